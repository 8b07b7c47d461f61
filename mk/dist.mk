# The production bundle of the flowlens command (dist/flowlens.js), run by bin/flowlens with plain node.
# Rebuilt only when a TypeScript source or the dependency set changes.
DIST_BUNDLE := dist/flowlens.js
DIST_SOURCES := $(shell find cli agent relay ui/server ui/shared proto lab bench environments -name node_modules -prune -o -type f \( -name '*.ts' -o -name '*.json' \) -print 2>/dev/null)

$(DIST_BUNDLE): $(DIST_SOURCES) scripts/build-dist.ts package.json $(STAMPS)/npm
	tsx scripts/build-dist.ts

BUILD_TARGETS += $(DIST_BUNDLE)
