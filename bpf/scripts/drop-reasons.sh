#!/usr/bin/env bash
# Prints the running kernel's `enum skb_drop_reason` (from a vmlinux.h made
# from its BTF) as JSON: {"<number>": "<name without SKB_DROP_REASON_>"}.
set -euo pipefail
vmlinux_h=${1:?usage: drop-reasons.sh path/to/vmlinux.h}
awk '
  /^enum skb_drop_reason \{/ { inside = 1; next }
  inside && /^\};/ { exit }
  inside {
    gsub(/[ \t,]/, "")
    split($0, kv, "=")
    name = kv[1]; sub(/^SKB_DROP_REASON_/, "", name)
    printf "%s\"%s\": \"%s\"", (n++ ? ",\n  " : "{\n  "), kv[2], name
  }
  END {
    if (!n) { print "no enum skb_drop_reason in " FILENAME > "/dev/stderr"; exit 1 }
    print "\n}"
  }
' "$vmlinux_h"
