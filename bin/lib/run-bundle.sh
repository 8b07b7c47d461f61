# Sourced by the bin/ launchers. run_bundle NAME SOURCE ARGS...: runs dist/NAME.js (`make build`) with plain
# node while it is newer than every source it was built from (dist/NAME.inputs); otherwise runs SOURCE
# through tsx, so a checkout works before its first build and right after an edit.
here="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"

run_bundle() {
  local name="$1" source="$2"
  shift 2
  local bundle="$here/dist/$name.js" inputs="$here/dist/$name.inputs"
  if [[ -f "$bundle" && -f "$inputs" ]]; then
    local sources
    mapfile -t sources < <(sed "s|^|$here/|" "$inputs")
    # Any source newer than the bundle, or gone, means the bundle is stale.
    if [[ -z "$(find "${sources[@]}" -maxdepth 0 -newer "$bundle" -print -quit 2>&1)" ]]; then
      exec node "$bundle" "$@"
    fi
  fi
  # tsx is resolved from the checkout, so the command works from any directory.
  exec node --import "file://$here/node_modules/tsx/dist/loader.mjs" "$here/$source" "$@"
}
