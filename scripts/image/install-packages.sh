#!/usr/bin/env bash
# Installs the Debian packages listed in a file (one per line, # comments), without recommends, and
# leaves no apt lists behind. Used by both stages of agent/Dockerfile.
set -euo pipefail
list=${1:?usage: install-packages.sh <package-list-file>}
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list")
if [ "${#packages[@]}" -eq 0 ]; then
  echo "install-packages.sh: $list lists no packages" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${packages[@]}"
rm -rf /var/lib/apt/lists/*
