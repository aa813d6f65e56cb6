#!/usr/bin/env bash
# Benchmark (run on demand, not in CI): the operator with many RenderJobs live at once against
# the API server stand-in, SeaweedFS and the Lambda emulator running the scripted fake function
# (operator/benches/many_jobs.rs). Prints a markdown table: apply → launch latency, status
# write rate, the operator's RSS and CPU, time until every job ended.
#
#   bash bench/operator-scale.sh [--jobs 1000] [--fake-processes 4] [--steps 40] [--interval-ms 1000]
#       [--create-concurrency 32] [--create-rate JOBS_PER_S] [--operator-concurrency 4]
#       [--launch-concurrency 16] [--progress-writes-per-second 25] [--timeout-s 900]
#
# Without --create-rate the jobs are created in one burst (latency = queueing of the burst);
# with it, at a steady rate (e.g. --jobs 1000 --steps 120 --create-rate 10: a thousand renders
# live at once, each new job launched while the others render).
#
# Prerequisites: bash scripts/install-deps.sh (stand-ins, fixture bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remotion-operator/target}
export PATH="$HOME/.cargo/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
[ -f tests/fixtures/remotion-project/build/index.html ] || bash tests/fixtures/remotion-project/build.sh >/dev/null
# The fake function is an example: `cargo bench --bench` does not build it.
cargo build -q --locked --release -p remotion-operator --example fake-launch-function
cargo bench -q --locked -p remotion-operator --bench many_jobs -- \
  --fake-binary "$CARGO_TARGET_DIR/release/examples/fake-launch-function" "$@"
