#!/usr/bin/env bash
# Compiles the kernel programs (CO-RE, so one object runs on every node kernel with BTF) and extracts
# the drop-reason names, into <out-dir>. The same commands as mk/bpf.mk; agent/Dockerfile runs this.
set -euo pipefail
src=${1:?usage: build-kernel-objects.sh <repo-dir> <out-dir> [vmlinux-btf]}
out=${2:?usage: build-kernel-objects.sh <repo-dir> <out-dir> [vmlinux-btf]}
btf=${3:-/sys/kernel/btf/vmlinux}
if [ ! -r "$btf" ]; then
  echo "build-kernel-objects.sh: no kernel BTF at $btf; build on a host whose kernel has CONFIG_DEBUG_INFO_BTF or pass a vmlinux BTF file as the third argument" >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64) arch=x86 ;;
  aarch64) arch=arm64 ;;
  *) echo "build-kernel-objects.sh: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
mkdir -p "$out"
bpftool btf dump file "$btf" format c > "$out/vmlinux.h.tmp"
mv "$out/vmlinux.h.tmp" "$out/vmlinux.h"
clang -g -O2 -Wall -target bpf "-D__TARGET_ARCH_$arch" \
  "-I$out" "-I$src/bpf/include" -c "$src/bpf/flowlens.bpf.c" -o "$out/flowlens.bpf.o"
"$src/bpf/scripts/drop-reasons.sh" "$out/vmlinux.h" > "$out/skb_drop_reasons.json.tmp"
mv "$out/skb_drop_reasons.json.tmp" "$out/skb_drop_reasons.json"
