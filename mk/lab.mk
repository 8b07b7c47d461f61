# The local lab: `make lab` (in the Makefile) runs it in the foreground;
# `make lab-down` removes a lab left running with `flowlens lab up --detach`
# or one interrupted without a clean stop.
.PHONY: lab-down bench-mesh

lab-down:
	bin/flowlens lab down

# The none / eBPF agent / sidecar comparison on the lab replica (a few minutes).
bench-mesh: build
	bin/flowlens bench
