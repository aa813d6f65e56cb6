#!/usr/bin/env bash
# Runs every check and test of remotion-operator: formatting, generated-file drift, clippy,
# and the whole test suite against real stand-ins (Kubernetes API server, SeaweedFS,
# cargo-lambda, Chromium, FFmpeg). Prerequisites: bash scripts/install-deps.sh
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "generated CRDs are up to date"
cargo run -q --locked -p remotion-crds --bin crdgen -- --check

step "the render function compiles no Kubernetes crate"
if cargo tree --locked -p remotion-function -e normal --prefix none | grep -E '^(kube|k8s-openapi|schemars)[ -]'; then
  echo "remotion-function depends on the crates above: move what it needs into remotion-protocol" >&2
  exit 1
fi

step "cargo deny: licenses, bans, sources (advisories need a connected CI)"
cargo deny --log-level error check licenses bans sources

step "cargo clippy -D warnings"
cargo clippy -q --locked --workspace --all-targets -- -D warnings

step "cargo test"
# Every test binary runs even when an earlier one failed, so one run shows every failure.
cargo test --locked --workspace --no-fail-fast 2>&1 | tee "${TMPDIR:-/tmp}/remotion-test-output.txt"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\ntotal: %d passed, %d failed, %d skipped\n", p, f, i; if (f > 0) exit 1 }' \
  "${TMPDIR:-/tmp}/remotion-test-output.txt"
