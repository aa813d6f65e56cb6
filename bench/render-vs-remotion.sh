#!/usr/bin/env bash
# Benchmark (run on demand, not in CI): our CLI vs `npx remotion render` on the same bundle,
# composition, codec settings and concurrency, in alternating runs. Prints a table of wall time,
# CPU-seconds (all processes of the run: Chromium, node, ffmpeg included) and frames/s.
#
#   bash bench/render-vs-remotion.sh [runs=2] [frames=0-299] [concurrency list="1 2"]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2}
frames=${2:-0-299}
concurrencies=${3:-"1 2"}
project=tests/fixtures/remotion-project
command -v bc >/dev/null && [ -x /usr/bin/time ] || apt-get install -y -qq bc time >/dev/null
bash "$project/build.sh" >/dev/null
cargo build -q --release -p remotion-function
ours="${CARGO_TARGET_DIR:-target}/release/remotion-function"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
first=${frames%-*}; last=${frames#*-}; count=$((last - first + 1))

# CPU-seconds of a command and all its children: user+sys from GNU time's %U/%S of the
# process tree (children are waited for, so their times are included).
measure() { # label command...
  local label=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$out/time" "$@" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; return 1; }
  read -r wall user sys < "$out/time"
  printf '%-10s %-4s %8.1f %8.1f %8.2f %9.3f\n' "$label" "$c" "$wall" "$(echo "$user + $sys" | bc)" \
    "$(echo "$count / $wall" | bc -l)" "$(echo "($user + $sys) / $count" | bc -l)"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $count frames of Intro (1920x1080), h264 crf 18 medium, JPEG q80"
printf '%-10s %-4s %8s %8s %8s %9s\n' tool conc wall_s cpu_s fps cpu_s/fr
for c in $concurrencies; do
  for run in $(seq 1 "$runs"); do
    measure ours "$ours" render --serve-url "$project/build" --composition Intro --frames "$frames" \
      --concurrency "$c" --crf 18 --x264-preset medium --out "$out/ours.mp4"
    measure remotion bash -c "cd $project && npx --no-install remotion render build Intro $out/theirs.mp4 \
      --frames=$frames --concurrency=$c --crf=18 --browser-executable=/usr/bin/chromium --log=error"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
