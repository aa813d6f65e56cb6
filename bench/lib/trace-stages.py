#!/usr/bin/env python3
"""Where a frame's CPU goes inside Chromium, from a trace `render_floor capture --trace` wrote.

    python3 bench/lib/trace-stages.py TRACE FRAMES [TOP=25]

Sums the thread CPU time (`tdur`) Chromium records for each trace event. An event's own time is
its CPU time less its children's on the same thread, so nested events are not counted twice.
Prints, in CPU-milliseconds per frame: each process and thread's traced CPU, the stages of a
frame (STAGES below: the first rule whose pattern an event's name matches), and the events
with the most CPU time of their own. CPU a thread spends outside any traced event is not seen.
"""
import json
import re
import sys
from collections import defaultdict

# (stage, pattern over "process/thread/event"), first match wins. Events are Chromium's trace
# event names; a task with no traced work inside is named after the function that posted it
# ("RunTask <- file.cc:Function"), which is how the screenshot's own work shows up.
STAGES = [
    ("readback: the frame copied out of the display compositor",
     r"^GPU Process/.*(copy_output_request\.cc:SendResult|CopyOutputResultSender)"),
    ("screenshot: image encoding and base64, in the browser",
     r"^Browser/.*(copy_output_request_mojom_traits\.cc:SendResult|Encode|Screenshot)"),
    ("display compositing (viz, software)", r"^GPU Process/VizCompositorThread/"),
    ("raster (the renderer's workers)", r"^Renderer/ThreadPool.*(Raster|categorized_worker_pool|Playback)"),
    ("the renderer's compositor thread", r"^Renderer/Compositor/"),
    ("page: script (the seek, React's render)",
     r"^Renderer/CrRendererMain/.*(v8|FunctionCall|EvaluateScript|V8\.|Microtask|TimerFire|AnimationFrame|Event)"),
    ("page: style, layout, paint, commit",
     r"^Renderer/CrRendererMain/.*(Layout|Style|Paint|Commit|BeginMainFrame|Lifecycle|Layer|proxy_impl)"),
    ("DevTools and IPC", r"(DevTools|devtools|mojo|Mojo|ipc|IPC|Epoll|SimpleWatcher|IOThread)"),
    ("V8's background compilers", r"^Renderer/ThreadPool.*(maglev|turbofan|Compile|v8)"),
]


def load(path):
    with open(path) as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def names(events):
    processes, threads = {}, {}
    for e in events:
        if e.get("ph") != "M":
            continue
        if e.get("name") == "process_name":
            processes[e["pid"]] = e["args"].get("name", "?")
        elif e.get("name") == "thread_name":
            threads[(e["pid"], e["tid"])] = e["args"].get("name", "?")
    return processes, threads


def event_name(e):
    """The event's name; a task's with the function that posted it."""
    args = e.get("args") or {}
    if "RunTask" in e["name"] and "src_func" in args:
        return f"RunTask <- {args.get('src_file', '?').rsplit('/', 1)[-1]}:{args['src_func']}"
    return e["name"]


def intervals(events):
    """Per thread: (start ts, end ts, thread CPU µs, name) of every event with thread time."""
    per_thread = defaultdict(list)
    open_events = defaultdict(list)
    for e in events:
        ph, key = e.get("ph"), (e.get("pid"), e.get("tid"))
        if ph == "X" and "tdur" in e:
            per_thread[key].append((e["ts"], e["ts"] + e.get("dur", 0), e["tdur"], event_name(e)))
        elif ph == "B" and "tts" in e:
            open_events[key].append(e)
        elif ph == "E" and "tts" in e and open_events[key]:
            b = open_events[key].pop()
            per_thread[key].append((b["ts"], e["ts"], e["tts"] - b["tts"], event_name(b)))
    return per_thread


def own_times(spans):
    """(name, own CPU µs) of each span of one thread."""
    spans = sorted(spans, key=lambda s: (s[0], -s[1]))
    result = []
    stack = []  # indices into result, with their end ts
    for start, end, cpu, name in spans:
        while stack and stack[-1][1] <= start:
            stack.pop()
        if stack:
            parent = stack[-1][0]
            result[parent][1] -= cpu
        result.append([name, cpu])
        stack.append((len(result) - 1, end))
    return result


def main():
    path, frames = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    events = load(path)
    processes, threads = names(events)
    per_thread_cpu = defaultdict(float)
    per_event = defaultdict(float)
    for (pid, tid), spans in intervals(events).items():
        where = f"{processes.get(pid, pid)}/{threads.get((pid, tid), tid)}"
        for name, own in own_times(spans):
            # Thread clocks tick coarsely: a child can read a little more than its parent.
            own = max(own, 0)
            per_event[f"{where}/{name}"] += own
            per_thread_cpu[where] += own
    # Each distinct event is classified once.
    per_stage = defaultdict(float)
    for key, us in per_event.items():
        per_stage[next((stage for stage, pattern in STAGES if re.search(pattern, key)), "other")] += us
    total = sum(per_thread_cpu.values())
    ms = lambda us: us / 1000 / frames
    print(f"traced CPU: {ms(total):.1f} ms a frame over {frames} frames")
    print("\nby process and thread (ms a frame):")
    for where, us in sorted(per_thread_cpu.items(), key=lambda kv: -kv[1]):
        if ms(us) >= 0.05:
            print(f"  {ms(us):7.2f}  {where}")
    print("\nby stage (ms a frame, % of traced):")
    for stage, us in sorted(per_stage.items(), key=lambda kv: -kv[1]):
        print(f"  {ms(us):7.2f}  {100 * us / total:5.1f} %  {stage}")
    print(f"\nthe {top} events with the most CPU of their own (ms a frame):")
    for key, us in sorted(per_event.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {ms(us):7.2f}  {key}")


if __name__ == "__main__":
    main()
