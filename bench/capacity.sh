#!/usr/bin/env bash
# Benchmark (run on demand, not in CI): the operator's capacity queue (operator/benches/capacity.rs).
# RenderJobs of several namespaces share one Lambda function of a few slots
# (RenderFunction spec.maxConcurrentInvocations); the real operator binary, watching every
# namespace, admits a render only when a slot is free and queues the rest. Runs against the API
# server stand-in, SeaweedFS and the Lambda emulator with the scripted fake function. Prints a
# markdown table.
#
#   bash bench/capacity.sh --scenario fairness [--jobs 50] [--shares 30,15,5] [--slots 4]
#       [--steps 6] [--steps-jitter 0] [--interval-ms 500]
#     50 short renders from 3 namespaces on 4 slots, the fake running one render per process
#     (4 processes): makespan vs ideal, most renders at once, launches queued in the emulator,
#     Jain's fairness index across namespaces, slot free → next launch.
#
#   bash bench/capacity.sh --scenario scale [--jobs 10000] [--complete 200] [--slots 4]
#       [--steps 2] [--interval-ms 500] [--fake-processes 2] [--create-concurrency 32]
#     10,000 RenderJobs present at once, 4 slots, the fake detached (only the operator bounds
#     how many run): operator RSS and CPU, slot free → next launch, status writes per second,
#     the rest Queued.
#
#   Both: [--operator-concurrency 4] [--launch-concurrency 16] [--progress-writes-per-second 25]
#       [--video] [--timeout-s T] [--dump-jobs FILE.jsonl]  (every job's timeline, one JSON line each)
#
# Quick checks: --scenario fairness --jobs 12; --scenario scale --jobs 500 --complete 40.
# Prerequisites: bash scripts/install-deps.sh (stand-ins, fixture bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remotion-operator/target}
export PATH="$HOME/.cargo/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
[ -f tests/fixtures/remotion-project/build/index.html ] || bash tests/fixtures/remotion-project/build.sh >/dev/null
# The fake function is an example: `cargo bench --bench` does not build it.
cargo build -q --locked --release -p remotion-operator --example fake-launch-function
cargo bench -q --locked -p remotion-operator --bench capacity -- \
  --fake-binary "$CARGO_TARGET_DIR/release/examples/fake-launch-function" "$@"
