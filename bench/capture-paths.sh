#!/usr/bin/env bash
# Benchmark (run on demand, not in CI) for issue #18: the capture paths a frame could take out
# of Chromium, each measured on the same seek with the `render_floor` example (screenshots only,
# nothing encoded), and each checked for pixels identical to the renderer's own path.
#
#   [COMPOSITION=Intro] bash bench/capture-paths.sh [runs=2] [frames=0-299] [concurrency=1] [variants...]
#
# For every variant: best wall, mean CPU-seconds per frame of every process of the run (cpuacct
# cgroup, as bench/render-vs-remotion.sh), and whether its frames decode to the same pixels as
# the baseline's (Debian's `chromium` drawing its own frames, as Remotion captures; PNG frames
# compared after decoding, so a different encoder setting does not count as a different
# picture). PROFILE=1 adds, per
# variant, where the CPU went: perf's cpu-clock samples of the whole machine by thread name
# (Chromium's threads are named after their job) and by shared object. TRACE=1 adds Chromium's
# own trace of each variant's frames, summed by process, thread, stage and event
# (bench/lib/trace-stages.py; TRACE_KEEP=DIR keeps the trace files for chrome://tracing).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remotion-operator/target}
runs=${1:-2}
frames=${2:-0-299}
concurrency=${3:-1}
composition=${COMPOSITION:-Intro}
shift $(($# < 3 ? $# : 3))
project=tests/fixtures/remotion-project
# The binary itself: Debian's /usr/bin/chromium-headless-shell is a wrapper that does not exec it,
# so killing the launched process (as a browser that does not shut down in time is) would
# leave the browser.
shell=/usr/lib/chromium/chromium-headless-shell
command -v bc >/dev/null && [ -x /usr/bin/time ] || apt-get install -y -qq bc time >/dev/null
[ -x "$shell" ] || apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null
if [ "${PROFILE:-0}" = 1 ] && ! command -v perf >/dev/null; then
  apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi
bash "$project/build.sh" >/dev/null
# FLOOR=path: an already built render_floor (e.g. a debug build while exploring).
if [ -z "${FLOOR:-}" ]; then
  cargo build -q --locked --release -p remotion-function --example render_floor
fi
floor=${FLOOR:-$CARGO_TARGET_DIR/release/examples/render_floor}
out=$(mktemp -d)
first=${frames%-*}; last=${frames#*-}; count=$((last - first + 1))

# The shell with extra switches: a wrapper that execs it with them, named like it (the
# renderer knows the shell by its name, and kills the process it launched).
shell_with() { # shell_with <label> <switches...> -> the wrapper's path
  local dir="$out/shell-$1"; shift
  mkdir -p "$dir"
  printf '#!/bin/sh\nexec %q %s "$@"\n' "$shell" "$*" >"$dir/chromium-headless-shell"
  chmod +x "$dir/chromium-headless-shell"
  echo "$dir/chromium-headless-shell"
}

# name: the render_floor arguments (and environment) of each variant. `lambda-*` set
# AWS_LAMBDA_FUNCTION_NAME, so the browser starts with the Lambda switches (no zygote,
# SwiftShader GL through ANGLE).
declare -A variant=(
  [chromium]="--shot remotion --browser /usr/bin/chromium"
  [chromium-direct]="--shot direct --browser /usr/bin/chromium"
  [chromium-direct-slow]="--shot direct --optimize-for-speed false --browser /usr/bin/chromium"
  [chromium-direct-png]="--shot direct --format png --browser /usr/bin/chromium"
  [chromium-direct-webp]="--shot direct --format webp --browser /usr/bin/chromium"
  [shell]="--shot remotion --browser $shell"
  [shell-direct]="--shot direct --browser $shell"
  [shell-begin-frame]="--shot begin-frame --browser $shell"
  [lambda-chromium]="--shot remotion --browser /usr/bin/chromium"
  [lambda-shell]="--shot remotion --browser $shell"
  [lambda-shell-begin-frame]="--shot begin-frame --browser $shell"
  # Rasterisation switches on the renderer's path: raster worker threads, tile size, and
  # raster on the GPU process (Lambda's SwiftShader GL) instead of the renderer's workers.
  [shell-begin-frame-raster-threads-1]="--shot begin-frame --browser $(shell_with rt1 --num-raster-threads=1)"
  [shell-begin-frame-raster-threads-4]="--shot begin-frame --browser $(shell_with rt4 --num-raster-threads=4)"
  [shell-begin-frame-tiles-512]="--shot begin-frame --browser $(shell_with t512 --default-tile-width=512 --default-tile-height=512)"
  [lambda-shell-begin-frame-gpu-raster]="--shot begin-frame --browser $(shell_with gpu --enable-gpu-rasterization)"
)
order=(chromium chromium-direct chromium-direct-slow chromium-direct-png chromium-direct-webp shell shell-direct
  shell-begin-frame lambda-chromium lambda-shell lambda-shell-begin-frame shell-begin-frame-raster-threads-1
  shell-begin-frame-raster-threads-4 shell-begin-frame-tiles-512 lambda-shell-begin-frame-gpu-raster)
[ $# -gt 0 ] && order=(chromium "$@")

source bench/lib/cpu-cgroup.sh
make_cpu_cgroup remotion-capture-bench
[ -n "$cgroup" ] || { echo "capture-paths: needs a writable cpuacct cgroup (run as root)" >&2; exit 1; }
trap 'rm -rf "$out"; rmdir "$cgroup" 2>/dev/null; true' EXIT
# Writes the command of a variant's run to a script (so that it can be exec'd inside the
# cgroup and under perf alike): its environment, render_floor, the variant's arguments.
command_script() { # name range keep-dir extra-args... -> prints the script's path
  local name=$1 range=$2 keep=$3; shift 3
  local script="$out/cmd-$name-$range"
  local cmd=(env)
  [[ $name == lambda-* ]] && cmd+=(AWS_LAMBDA_FUNCTION_NAME=capture-bench)
  # shellcheck disable=SC2206 # the variant's arguments are words
  cmd+=("$floor" capture --serve-url "$project/build" --composition "$composition" --frames "$range"
    --concurrency "$concurrency" --keep "$keep" ${variant[$name]} "$@")
  printf '%q ' "${cmd[@]}" >"$script"
  echo "$script"
}
measure() { # name
  local name=$1 before wall script
  script=$(command_script "$name" "$frames" "$out/kept")
  before=$(cgroup_cpu_seconds)
  rm -rf "$out/kept"
  /usr/bin/time -f "%e" -o "$out/time" bash -c 'echo $$ > "$0/cgroup.procs" && exec bash "$1"' "$cgroup" "$script" \
    >/dev/null 2>"$out/err" || { cat "$out/err" >&2; return 1; }
  wait_cgroup_empty
  read -r wall < "$out/time"
  echo "$name $wall $(echo "$(cgroup_cpu_seconds) - $before" | bc -l)" >>"$out/rows"
  printf '%-26s %7.1f s %8.4f CPU-s/frame\n' "$name" "$wall" "$(tail -n1 "$out/rows" | awk -v n="$count" '{print $3 / n}')"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $count frames of $composition (1920x1080), concurrency $concurrency"
for run in $(seq 1 "$runs"); do
  for name in "${order[@]}"; do
    measure "$name"
  done
done

# Pixels: the first PIXEL_FRAMES (100) frames of the range as PNG through each variant, decoded
# to RGBA. Fewer can hide a drift: frames drawn on demand once matched on Intro's first 10 and
# differed from frame 51 on.
pixel_frames=${PIXEL_FRAMES:-100}
pixels() { # name
  local name=$1 dir="$out/png-$1" script
  rm -rf "$dir"; mkdir -p "$dir"
  script=$(command_script "$name" "$first-$((first + pixel_frames - 1 < last ? first + pixel_frames - 1 : last))" "$dir" --format png)
  bash "$script" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; return 1; }
  for f in "$dir"/*.png; do
    ffmpeg -v error -i "$f" -f rawvideo -pix_fmt rgba - | sha256sum | cut -d' ' -f1
  done >"$dir.sums"
}
echo "pixels of the first $pixel_frames frames (PNG, decoded) against chromium's:"
pixels chromium
for name in "${order[@]}"; do
  [ "$name" = chromium ] && continue
  pixels "$name"
  same=$(paste -d' ' "$out/png-chromium.sums" "$out/png-$name.sums" | awk '$1 == $2' | wc -l)
  printf '%-26s %s/%s frames identical\n' "$name" "$same" "$(wc -l <"$out/png-chromium.sums")"
done

python3 - "$out/rows" "$count" <<'PY'
import sys
from collections import defaultdict
walls, cpus = defaultdict(list), defaultdict(list)
for name, wall, cpu in (line.split() for line in open(sys.argv[1])):
    walls[name].append(float(wall))
    cpus[name].append(float(cpu) / int(sys.argv[2]))
base = sum(cpus["chromium"]) / len(cpus["chromium"])
print(f"{'variant':26} {'best wall':>10} {'CPU-s/frame':>12} {'vs chromium':>12}")
for name in walls:
    cpu = sum(cpus[name]) / len(cpus[name])
    print(f"{name:26} {min(walls[name]):9.1f}s {cpu:12.4f} {cpu / base:12.2f}")
PY

if [ "${PROFILE:-0}" = 1 ]; then
  for name in "${order[@]}"; do
    echo "== where the CPU went: $name (perf cpu-clock, whole machine, % of samples)"
    perf record -q -e cpu-clock -F 499 -a -o "$out/perf.data" -- bash "$(command_script "$name" "$frames" "$out/kept")" \
      >/dev/null 2>"$out/err" || { cat "$out/err" >&2; continue; }
    perf report -i "$out/perf.data" --stdio --sort comm --percent-limit 1 2>/dev/null | grep -v '^#' | sed '/^$/d'
    perf report -i "$out/perf.data" --stdio --sort dso --percent-limit 1 2>/dev/null | grep -v '^#' | sed '/^$/d'
  done
fi

if [ "${TRACE:-0}" = 1 ]; then
  for name in "${order[@]}"; do
    echo "== where the CPU went inside Chromium: $name (its own trace, thread CPU time)"
    bash "$(command_script "$name" "$frames" "$out/kept" --trace "$out/trace-$name.json")" >/dev/null 2>"$out/err" \
      || { cat "$out/err" >&2; continue; }
    python3 bench/lib/trace-stages.py "$out/trace-$name.json" "$count" "${TRACE_TOP:-25}"
    if [ -n "${TRACE_KEEP:-}" ]; then mkdir -p "$TRACE_KEEP" && cp "$out/trace-$name.json" "$TRACE_KEEP/"; fi
  done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
