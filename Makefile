# Flowlens: two commands for users (`make lab`, `make test`); the rest are steps.
# Every step is idempotent: stamps in .make/ skip what is already done.
SHELL := /bin/bash
STAMPS := .make
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/.tools/bin:$(PATH)

# Component fragments add their build steps to BUILD_TARGETS.
BUILD_TARGETS :=
include $(sort $(wildcard mk/*.mk))

.PHONY: deps build test typecheck lab synth clean
.DEFAULT_GOAL := lab

deps: $(STAMPS)/system $(STAMPS)/npm

$(STAMPS)/system: scripts/system-packages.txt scripts/install-system-packages.sh
	@mkdir -p $(STAMPS)
	scripts/install-system-packages.sh
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund
	@touch $@

build: deps $(BUILD_TARGETS)

typecheck: deps
	tsc --noEmit -p tsconfig.json

test: build typecheck
	scripts/run-tests.sh

synth: deps
	tsx main.ts

# The embedded default: a local lab (network namespaces as pods) observed by the
# real agent, relay and UI. Stays up until Ctrl-C; `make lab-down` removes it.
lab: build
	bin/flowlens lab up

clean:
	rm -rf $(STAMPS) cdktf.out build dist test-artifacts
