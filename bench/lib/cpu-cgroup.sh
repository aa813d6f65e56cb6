# Sourced by the benchmarks that count the CPU-seconds of a command and every process it starts.
# With a cpuacct cgroup (v1 or v2, as root) each run goes into a cgroup of its own and its usage
# is read from there: that counts Chromium's renderer/GPU processes, node workers and ffmpeg
# however they end.

# Makes a cgroup named NAME-<pid> and sets `cgroup` to its path; `cgroup` stays empty where
# none can be made.
make_cpu_cgroup() { # name
  cgroup=""
  local root candidate
  for root in /sys/fs/cgroup/cpuacct /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [ -w "$root" ] && { [ -f "$root/cpuacct.usage" ] || [ -f "$root/cgroup.procs" ]; }; then
      candidate="$root/$1-$$"
      if mkdir -p "$candidate" 2>/dev/null && { [ -f "$candidate/cpuacct.usage" ] || [ -f "$candidate/cpu.stat" ]; }; then
        cgroup=$candidate
        return
      fi
      rmdir "$candidate" 2>/dev/null || true
    fi
  done
}

# CPU-seconds the cgroup's processes have used so far.
cgroup_cpu_seconds() {
  if [ -f "$cgroup/cpuacct.usage" ]; then
    echo "$(cat "$cgroup/cpuacct.usage") / 1000000000" | bc -l
  else
    echo "$(awk '$1 == "usage_usec" {print $2}' "$cgroup/cpu.stat") / 1000000" | bc -l
  fi
}

# Processes a run left behind are still counted until they end; waits for them briefly.
wait_cgroup_empty() {
  for _ in $(seq 50); do [ -z "$(cat "$cgroup/cgroup.procs")" ] && break; sleep 0.1; done
}
