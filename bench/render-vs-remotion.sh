#!/usr/bin/env bash
# Benchmark (run on demand, not in CI): our CLI vs `npx remotion render` on the same bundle,
# composition, codec settings and concurrency, in alternating runs. Prints a table of wall time,
# CPU-seconds (all processes of the run: Chromium, node, ffmpeg included, from a cpuacct cgroup
# when one can be made) and frames/s, then the ratios ours / Remotion's. Then the floor: the
# same frames captured only (screenshots, nothing encoded) and encoded only (the captured JPEGs,
# read into memory first), each a run of its own; a render cannot cost less CPU than their sum.
# Each tool runs with each browser: Debian's `chromium` and `chromium-headless-shell` (the old
# headless mode, Remotion's default browser), so that either side's best is compared.
#
#   bash bench/render-vs-remotion.sh [runs=2] [frames=0-299] [concurrency list="1 2"] [composition=Intro]
#
# `Showcase` is the heavier 1080p composition (gradients, text, SVG, images, blur).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remotion-operator/target}
runs=${1:-2}
frames=${2:-0-299}
concurrencies=${3:-"1 2"}
composition=${4:-Intro}
project=tests/fixtures/remotion-project
# The binary itself: Debian's /usr/bin/chromium-headless-shell is a wrapper that does not exec it,
# so killing the launched process (as a browser that does not shut down in time is) would
# leave the browser.
shell=/usr/lib/chromium/chromium-headless-shell
command -v bc >/dev/null && [ -x /usr/bin/time ] || apt-get install -y -qq bc time >/dev/null
[ -x "$shell" ] || apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null
bash "$project/build.sh" >/dev/null
cargo build -q --locked --release -p remotion-function --bin remotion-function --example render_floor
ours="$CARGO_TARGET_DIR/release/remotion-function"
floor="$CARGO_TARGET_DIR/release/examples/render_floor"
out=$(mktemp -d)
first=${frames%-*}; last=${frames#*-}; count=$((last - first + 1))

# CPU-seconds of a command and every process it starts: from a cpuacct cgroup where one can be
# made (bench/lib/cpu-cgroup.sh); without one, GNU time's user+sys of the waited-for process
# tree (a child that is never waited for is missed).
source bench/lib/cpu-cgroup.sh
make_cpu_cgroup remotion-bench
trap 'rm -rf "$out"; [ -n "$cgroup" ] && rmdir "$cgroup" 2>/dev/null; true' EXIT
measure() { # label command...
  local label=$1; shift
  local cpu before=0
  if [ -n "$cgroup" ]; then
    before=$(cgroup_cpu_seconds)
    /usr/bin/time -f "%e %U %S" -o "$out/time" bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cgroup" "$@" \
      >/dev/null 2>"$out/err" || { cat "$out/err" >&2; return 1; }
    wait_cgroup_empty
    read -r wall _ _ < "$out/time"
    cpu=$(echo "$(cgroup_cpu_seconds) - $before" | bc -l)
  else
    /usr/bin/time -f "%e %U %S" -o "$out/time" "$@" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; return 1; }
    read -r wall user sys < "$out/time"
    cpu=$(echo "$user + $sys" | bc -l)
  fi
  printf '%-15s %-4s %8.1f %8.1f %8.2f %9.3f\n' "$label" "$c" "$wall" "$cpu" \
    "$(echo "$count / $wall" | bc -l)" "$(echo "$cpu / $count" | bc -l)"
  echo "$label $c $wall $cpu" >>"$out/rows"
}

if [ -n "$cgroup" ]; then
  echo "CPU accounting: cgroup $cgroup"
else
  echo "CPU accounting: GNU time (waited-for processes only: undercounts Chromium)"
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $count frames of $composition (1920x1080), h264 crf 18 medium, JPEG q80"
printf '%-15s %-4s %8s %8s %8s %9s\n' tool conc wall_s cpu_s fps cpu_s/fr
for c in $concurrencies; do
  for run in $(seq 1 "$runs"); do
    for browser in /usr/bin/chromium "$shell"; do
      suffix=$([ "$browser" = "$shell" ] && echo -shell || true)
      measure "ours$suffix" env REMOTION_CHROMIUM="$browser" "$ours" render --serve-url "$project/build" \
        --composition "$composition" --frames "$frames" --concurrency "$c" --crf 18 --x264-preset medium \
        --out "$out/ours.mp4"
      measure "remotion$suffix" bash -c "cd $project && npx --no-install remotion render build $composition \
        $out/theirs.mp4 --frames=$frames --concurrency=$c --crf=18 --browser-executable=$browser --log=error"
    done
  done
done
for c in $concurrencies; do
  for run in $(seq 1 "$runs"); do
    rm -rf "$out/kept"
    measure capture "$floor" capture --serve-url "$project/build" --composition "$composition" --frames "$frames" \
      --concurrency "$c" --keep "$out/kept"
  done
done
for run in $(seq 1 "$runs"); do
  c=-
  measure encode "$floor" encode --frames-dir "$out/kept" --crf 18 --x264-preset medium --out "$out/encoded.mp4"
done
# Ratios: per tool and browser, best wall and mean CPU-seconds per frame; then ours / Remotion's,
# each side at its best browser for that figure.
python3 - "$out/rows" "$count" "$(nproc)" <<'PY'
import sys
from collections import defaultdict
rows = [line.split() for line in open(sys.argv[1])]
frames = int(sys.argv[2])
walls, cpus = defaultdict(list), defaultdict(list)
for tool, c, wall, cpu in rows:
    walls[(tool, c)].append(float(wall))
    cpus[(tool, c)].append(float(cpu) / frames)
mean = lambda xs: sum(xs) / len(xs)
print("conc  tool             best wall   mean CPU-s/frame")
for (tool, c) in sorted(walls, key=lambda k: (k[1], k[0])):
    print(f"{c:<5} {tool:16} {min(walls[(tool, c)]):7.1f} s   {mean(cpus[(tool, c)]):.3f}")
print("conc  best wall ours / remotion (ratio)   CPU-s/frame ours / remotion (ratio), best browser each")
for c in sorted({c for tool, c in walls if tool.startswith("ours")}, key=int):
    side = lambda prefix: [k for k in walls if k[1] == c and k[0].split("-")[0] == prefix]
    ow = min(min(walls[k]) for k in side("ours"))
    rw = min(min(walls[k]) for k in side("remotion"))
    oc = min(mean(cpus[k]) for k in side("ours"))
    rc = min(mean(cpus[k]) for k in side("remotion"))
    print(f"{c:<5} {ow:6.1f} / {rw:6.1f} s ({ow / rw:.2f})          {oc:.3f} / {rc:.3f} ({oc / rc:.2f})")
encode = mean(cpus[("encode", "-")])
print(f"floor CPU-s/frame: encode only {encode:.3f}; ours / (capture only + encode only) per concurrency:")
for c in sorted({c for tool, c in walls if tool == "capture"}, key=int):
    capture = mean(cpus[("capture", c)])
    ours = min(mean(cpus[k]) for k in cpus if k[1] == c and k[0].startswith("ours"))
    print(f"{c:<5} capture only {capture:.3f} (best wall {min(walls[('capture', c)]):.1f} s)"
          f"   floor {capture + encode:.3f}   ours {ours:.3f} ({ours / (capture + encode):.2f})")
# No schedule beats the CPU the floor needs spread over every core.
cores = int(sys.argv[3])
best_remotion = min(w for (tool, _), ws in walls.items() if tool.startswith("remotion") for w in ws)
lowest = min(mean(cpus[("capture", c)]) for c in {c for tool, c in walls if tool == "capture"}) + encode
print(f"wall-time bound on {cores} cores: floor x {frames} frames / {cores} = {lowest * frames / cores:.1f} s;"
      f" half of Remotion's best: {best_remotion / 2:.1f} s")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
