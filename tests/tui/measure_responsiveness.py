"""Measure how fast the lab answers a key while a run trains, in a real
terminal: `convlab` runs in tmux, a tiny run is launched from it, and while
it trains `?` is sent 2N times (opening help, then closing it); after each,
the pane is read until the change shows. The figure is key → visible change,
including the terminal. (Esc closes help too, but a terminal cannot tell a
lone Esc from the start of a key sequence at once: Textual waits ESCDELAY,
100 ms by default, before taking it as Esc.) Not a pytest test (bench/bench_keys.py measures the same in-process):

    .venv/bin/python tests/tui/measure_responsiveness.py [--presses 20]

Needs tmux. Prints one line per press and the median and maximum."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SESSION = "convlab-measure"
HELP_MARK = "Help · Esc or ? closes"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def pane() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(condition, timeout: float, what: str) -> float:
    """Poll the pane until `condition(text)`; seconds waited."""
    start = time.perf_counter()
    while not condition(pane()):
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"timed out waiting for {what}:\n{pane()}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--size", default="100x30")
    parser.add_argument("--idle", action="store_true", help="measure on the home screen, with no run training")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("tmux is needed (apt-get install tmux)")
    work = Path(tempfile.mkdtemp(prefix="convlab-measure-"))
    shutil.copytree(HERE / "presets", work / "presets")
    width, height = args.size.split("x")
    env = f"CONVLAB_PRESETS={work / 'presets'} CONVLAB_STORE={work / 'lab.sqlite'}"
    tmux("new-session", "-d", "-s", SESSION, "-x", width, "-y", height,
         f"cd {work} && env {env} {sys.executable} -m convlab")
    try:
        wait_for(lambda t: "tiny" in t, 30, "the home screen")
        if args.idle:
            return measure(args.presses, training=False)
        for _ in range(3):  # shallow, two-conv, relu, then tiny
            tmux("send-keys", "-t", SESSION, "Down")
        tmux("send-keys", "-t", SESSION, "Enter")
        wait_for(lambda t: "Launch" in t, 10, "the run settings")
        tmux("send-keys", "-t", SESSION, "50")  # 50 epochs: it trains all through the measurement
        tmux("send-keys", "-t", SESSION, "C-l")
        wait_for(lambda t: "images/s" in t, 120, "the run to train")
        measure(args.presses, training=True)
        tmux("send-keys", "-t", SESSION, "x")  # cancel the run, then quit
        wait_for(lambda t: "press r to resume" in t, 60, "the run to stop")
        tmux("send-keys", "-t", SESSION, "q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    return 0


def measure(presses: int, training: bool) -> int:
    """Press ? then Esc `presses` times; print each and the summary."""
    times = []
    for i in range(presses):
        start = time.perf_counter()
        tmux("send-keys", "-t", SESSION, "?")
        wait_for(lambda t: HELP_MARK in t, 5, "the help screen")
        opened = time.perf_counter() - start
        start = time.perf_counter()
        tmux("send-keys", "-t", SESSION, "?")
        wait_for(lambda t: HELP_MARK not in t, 5, "the screen under help")
        closed = time.perf_counter() - start
        times += [opened, closed]
        print(f"press {i + 1:>2}: ? → help {opened * 1000:5.1f} ms, ? → back {closed * 1000:5.1f} ms")
        time.sleep(0.2)
    ms = sorted(t * 1000 for t in times)
    state = ("while a run trained" + ("" if "images/s" in pane() else " (it had ended!)")) if training else "idle"
    print(f"{len(ms)} key presses, {state}: median {statistics.median(ms):.0f} ms, "
          f"90th percentile {ms[int(len(ms) * 0.9) - 1]:.0f} ms, max {ms[-1]:.0f} ms ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
