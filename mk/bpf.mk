# Kernel programs and the native addon that loads them.
# vmlinux.h and the drop-reason table come from the running kernel's BTF.
BPF_OUT := bpf/.output
BPF_OBJ := $(BPF_OUT)/flowlens.bpf.o
BPF_VMLINUX_H := $(BPF_OUT)/vmlinux.h
BPF_DROP_REASONS := $(BPF_OUT)/skb_drop_reasons.json
BPF_ADDON := agent/native/build/Release/flowlens_bpf.node
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

BUILD_TARGETS += $(BPF_OBJ) $(BPF_DROP_REASONS) $(BPF_ADDON)

.PHONY: bpf
bpf: $(BPF_OBJ) $(BPF_DROP_REASONS) $(BPF_ADDON)

$(BPF_VMLINUX_H): /sys/kernel/btf/vmlinux
	@mkdir -p $(BPF_OUT)
	bpftool btf dump file $< format c > $@.tmp && mv $@.tmp $@

$(BPF_DROP_REASONS): $(BPF_VMLINUX_H) bpf/scripts/drop-reasons.sh
	bpf/scripts/drop-reasons.sh $< > $@.tmp && mv $@.tmp $@

$(BPF_OBJ): bpf/flowlens.bpf.c bpf/include/flowlens_events.h $(BPF_VMLINUX_H)
	clang -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(BPF_ARCH) \
		-I$(BPF_OUT) -Ibpf/include -c $< -o $@

$(BPF_ADDON): agent/native/binding.gyp $(wildcard agent/native/*.cc agent/native/*.h) bpf/include/flowlens_events.h
	cd agent/native && node-gyp rebuild --nodedir=/usr --jobs=1 --loglevel=warn
