# Production bundles run with plain node (scripts/build-dist.ts): dist/flowlens.js for bin/flowlens and
# dist/app.js, the CDKTF app, for bin/cdktf-app. Each is rebuilt only when its sources or the dependency set change.
DIST_BUNDLE := dist/flowlens.js
DIST_SOURCES := $(shell find cli agent relay ui/server ui/shared proto lab bench environments -name node_modules -prune -o -type f \( -name '*.ts' -o -name '*.json' \) -print 2>/dev/null)
APP_BUNDLE := dist/app.js
APP_SOURCES := main.ts $(shell find stacks constructs environments -type f \( -name '*.ts' -o -name '*.json' -o -name '*.js' \) -print 2>/dev/null)

$(DIST_BUNDLE): $(DIST_SOURCES) scripts/build-dist.ts package.json $(STAMPS)/npm
	tsx scripts/build-dist.ts flowlens

$(APP_BUNDLE): $(APP_SOURCES) scripts/build-dist.ts package.json $(STAMPS)/npm
	tsx scripts/build-dist.ts app

BUILD_TARGETS += $(DIST_BUNDLE) $(APP_BUNDLE)
