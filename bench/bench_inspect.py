"""How fast the lab's inspector and drawing canvas are answered: the round trip
of one request to the lab's helper process (`convlab inspect --helper`, JSON
lines; convlab/tui/inspector.py), as the lab makes it, on the CPU.

Targets (issue 23): the inspector answers a key (a test digit) within 100 ms
while a run trains; the drawing canvas is classified at least 10 times a
second. With --beside-training a `convlab run relu` trains in another process
during the measurement (its own store), as it would beside the lab.

    python bench/bench_inspect.py                       # trains a small run first, in a temporary store
    python bench/bench_inspect.py --beside-training --requests 200
    python bench/bench_inspect.py --store my.sqlite --run 7

Figures go to docs/measurements.md with the machine and the load they were taken on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from convlab.tui.inspector import InspectHelper

TINY = ("--epochs", "1", "--train-limit", "500", "--seed", "1", "--repeats", "1", "--threads", "1")


def convlab(*args: str, store: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "CONVLAB_STORE": str(store), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "convlab", *args], env=env, **kwargs)


def timed(helper: InspectHelper, requests: list[dict]) -> list[float]:
    out = []
    for request in requests:
        start = time.perf_counter()
        answer = helper.ask(request)
        out.append((time.perf_counter() - start) * 1000)
        assert "error" not in answer, answer
    return out


def report(name: str, ms: list[float]) -> None:
    p95 = float(np.percentile(ms, 95))
    print(
        f"{name:<22} median {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   max {max(ms):6.1f} ms   "
        f"→ {1000 / statistics.median(ms):5.1f} answers/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path)
    parser.add_argument("--run", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--beside-training", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    store = args.store or folder / "convlab.sqlite"
    if args.store is None:
        convlab("run", "relu", *TINY, store=store, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait()
    trainer = None
    if args.beside_training:
        trainer = convlab(
            "run",
            "relu",
            "--epochs",
            "50",
            "--threads",
            "1",
            store=folder / "other.sqlite",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(10)  # past its start: data read, training
    helper = InspectHelper(str(store))
    try:
        start = time.perf_counter()
        helper.ask({"run": args.run, "digit": 0})
        print(f"helper start and first answer: {(time.perf_counter() - start) * 1000:.0f} ms (once per lab)")
        rng = np.random.default_rng(0)
        digits = [{"run": args.run, "digit": int(d)} for d in rng.integers(0, 10_000, args.requests)]
        report("inspector key (digit)", timed(helper, digits))
        canvas = np.zeros((28, 28))
        drawings = []
        for i in range(args.requests):  # a stroke growing as it is drawn
            canvas[4 + i % 20, 10 + (i // 20) % 8] = 1.0
            drawings.append({"run": args.run, "pixels": np.round(canvas, 3).tolist()})
        report("drawing (pixels)", timed(helper, drawings))
        print(f"beside training: {'yes' if trainer else 'no'}; cores: {os.cpu_count()}")
    finally:
        helper.close()
        if trainer is not None:
            trainer.terminate()
            trainer.wait()


if __name__ == "__main__":
    main()
