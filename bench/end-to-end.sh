#!/usr/bin/env bash
# Benchmark (run on demand, not in CI): the whole Kubernetes path on the local stand-ins, through
# scripts/main-job.sh (release build), after the CLI comparison. Prints three tables:
#
#  (a)     our CLI vs `npx remotion render` on the same bundle, concurrency 1 and 2, alternating
#          runs: wall time, CPU-seconds, fps (bench/render-vs-remotion.sh; the capture-only and
#          encode-only floors of the render-function issue are not measured by it yet);
#  (b)+(c) apply → Succeeded of the fixture's 300-frame Intro (1080p, h264) with 1, 2 and 4
#          render function processes besides the orchestrator, with the orchestration overhead
#          from the final progress document: launch → first chunk started (evaluating and
#          planning), last chunk done → output uploaded (stitching and upload);
#  (d)     chunk scaling: the 10,000-frame 64×64 `Tiny` composition in 100 / 1,000 / 10,000
#          chunks — planning, rendering, stitching and upload times, the progress document's
#          size, and the peak memory of the busiest function process (the orchestrator's).
#
#   bash bench/end-to-end.sh [renderer counts="1 2 4"] [chunk counts="100 1000 10000"] [comparison runs=2]
#
# Any argument may be "-" to skip its table. Chromium and FFmpeg share this machine's cores with
# the "Lambda" processes, so the figures measure the software's overhead and scaling on one
# box, not Lambda's parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
renderer_counts=${1:-"1 2 4"}
chunk_counts=${2:-"100 1000 10000"}
comparison_runs=${3:-2}
export PROFILE=release
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# One main-job run; its result files are copied to $results/<label>.
run_main_job() { # run_main_job <label> <env assignments…>
  local label=$1; shift
  local started ended
  started=$(date +%s.%N)
  if ! env "$@" bash scripts/main-job.sh >"$results/$label.log" 2>&1; then
    echo "bench: the main job for $label failed; its output:" >&2
    tail -n 30 "$results/$label.log" >&2
    return 1
  fi
  ended=$(date +%s.%N)
  mkdir -p "$results/$label"
  cp out/run/renderjob.json out/run/progress.json out/run/function-peaks.txt "$results/$label/"
  echo "$started $ended" >"$results/$label/wall"
}

# Figures of one run, as the table's columns.
summarize() { # summarize <label> <first column>
  python3 - "$results/$1" "$2" <<'EOF'
import json, sys, os
from datetime import datetime
folder, first = sys.argv[1], sys.argv[2]
job = json.load(open(os.path.join(folder, "renderjob.json")))
doc = json.load(open(os.path.join(folder, "progress.json")))
status = job["status"]
parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
created = parse(job["metadata"]["creationTimestamp"])
completed = parse(status["completedAt"])
t = doc.get("timings", {})
peaks = [int(line.split()[1]) for line in open(os.path.join(folder, "function-peaks.txt")) if line.strip()]
size = os.path.getsize(os.path.join(folder, "progress.json"))
cost = status.get("cost", {})
print("| {} | {} | {:.1f} | {:.2f} | {:.1f} | {:.2f} | {:.2f} | {:.1f} | {} | {} | ${} |".format(
    first,
    status["progress"]["chunksTotal"],
    (completed - created).total_seconds(),
    t.get("evaluatingMs", 0) / 1000,
    t.get("renderingMs", 0) / 1000,
    t.get("stitchingMs", 0) / 1000,
    t.get("uploadingMs", 0) / 1000,
    max(peaks or [0]) / 1024,
    size,
    cost.get("invocations", "?"),
    cost.get("accruedUsd", "?"),
))
EOF
}

header() {
  echo "| $1 | chunks | apply→Succeeded s | launch→first chunk s | rendering s | stitch s | upload s | peak function RSS MiB | progress.json bytes | invocations | cost |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
if [ "$comparison_runs" != "-" ]; then
  echo
  echo "(a) CLI vs npx remotion render"
  bash bench/render-vs-remotion.sh "$comparison_runs" 0-299 "1 2"
fi
if [ "$renderer_counts" != "-" ]; then
  rows=()
  for n in $renderer_counts; do
    run_main_job "renderers-$n" RENDERERS="$n" COMPOSITION=Intro FRAMES_PER_LAMBDA=50
    rows+=("$(summarize "renderers-$n" "$n")")
  done
  echo
  echo "(b)+(c) Intro, 300 frames 1920×1080 h264, framesPerLambda 50"
  header "renderer processes"
  printf '%s\n' "${rows[@]}"
fi
if [ "$chunk_counts" != "-" ]; then
  rows=()
  for chunks in $chunk_counts; do
    per=$((10000 / chunks))
    if run_main_job "chunks-$chunks" RENDER_TIMEOUT=7200 RENDERERS=4 COMPOSITION=Tiny FRAMES_PER_LAMBDA="$per"; then
      rows+=("$(summarize "chunks-$chunks" "$per")")
    else
      rows+=("| $per | $chunks | failed: see the output above | | | | | | | | |")
    fi
  done
  echo
  echo "(d) Tiny, 10,000 frames 64×64 h264, 4 renderer processes"
  header "frames per chunk"
  printf '%s\n' "${rows[@]}"
fi
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
