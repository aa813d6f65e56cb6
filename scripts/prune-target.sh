#!/usr/bin/env bash
# Keeps a shared CARGO_TARGET_DIR from growing without bound: cargo never deletes the test
# executables of earlier builds (a new hash per change), so keep only the newest of each name.
#
#   bash scripts/prune-target.sh [target-dir]
set -euo pipefail
target=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/remotion-operator/target}}
deps="$target/debug/deps"
[ -d "$deps" ] || exit 0
find "$deps" -maxdepth 1 -type f -perm -u+x ! -name '*.so' ! -name '*.rlib' ! -name '*.rmeta' ! -name '*.d' \
  -printf '%T@ %p\n' | sort -rn | awk '{ n = $2; sub(/-[0-9a-f]+$/, "", n); if (seen[n]++) print $2 }' \
  | xargs -r rm -f
