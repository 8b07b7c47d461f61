#!/usr/bin/env bash
# Builds the node-addon-api + libbpf addon from <repo-dir>/agent/native in a scratch copy (so a running
# checkout's own build is never touched) and puts flowlens_bpf.node in <out-dir>. agent/Dockerfile runs this.
set -euo pipefail
src=${1:?usage: build-native-addon.sh <repo-dir> <out-dir>}
out=${2:?usage: build-native-addon.sh <repo-dir> <out-dir>}
src=$(cd "$src" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/agent/native" "$work/bpf" "$out"
cp "$src"/agent/native/binding.gyp "$src"/agent/native/*.cc "$src"/agent/native/*.h "$work/agent/native/"
cp -r "$src/bpf/include" "$work/bpf/include"
# Headers of the node that will run the addon: /usr for Debian's nodejs, /usr/local for the node images.
nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
if [ ! -r "$nodedir/include/node/node_api.h" ]; then
  echo "build-native-addon.sh: no Node headers under $nodedir/include/node; install the Node development headers" >&2
  exit 1
fi
gyp="$src/node_modules/.bin/node-gyp"
(cd "$work/agent/native" && NODE_PATH="$src/node_modules" "$gyp" rebuild "--nodedir=$nodedir" --jobs=1 --loglevel=warn)
cp "$work/agent/native/build/Release/flowlens_bpf.node" "$out/flowlens_bpf.node"
