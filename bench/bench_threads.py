"""Threads per run on a shared CPU: a relu run's training speed idle and beside
two busy processes, with one thread (convlab's default per run) and with
torch's default (one per core), alternating in one session.

Targets (issue 8): the chosen setting keeps at least 40% of its idle speed
under load, and loses at most 10% of idle speed against torch's default.
Each measurement is a fresh process (threads are fixed at torch's start)
training the first N images of the `relu` preset with mini-batches of 10.

    python bench/bench_threads.py               # N = 2000, 3 rounds
    python bench/bench_threads.py --images 5000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

BUSY = "while True: pass"


def child(threads: int, images: int) -> None:
    """In a fresh process: train `images` images once (after a short warm-up); print images/s."""
    import torch

    from convlab.book.trainer import Trainer, prepare
    from convlab.config import spec as specs
    from convlab.data import mnist as mnist_data

    torch.set_num_threads(threads)
    spec = specs.load("relu").with_train(train_limit=images)
    cpu = torch.device("cpu")
    trainer = Trainer(spec, prepare(spec, mnist_data.load_mnist(), cpu), cpu, seed=1)
    warm = Trainer(
        spec.with_train(train_limit=200),
        prepare(spec.with_train(train_limit=200), mnist_data.load_mnist(), cpu),
        cpu,
        seed=1,
    )
    list(warm.train_epoch(1, lambda: False))
    start = time.perf_counter()
    list(trainer.train_epoch(1, lambda: False))
    print(images / (time.perf_counter() - start))


def measure(threads: int, images: int, busy: int) -> float:
    loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(threads), "--images", str(images)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": str(threads)},
        )
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.images)
        return
    cores = len(os.sched_getaffinity(0))
    settings = {"1 thread (convlab)": 1, f"{cores} threads (torch default)": cores}
    results: dict[tuple[str, int], list[float]] = {}
    print(
        f"load average before: {os.getloadavg()[0]:.2f} on {cores} cores; {args.images:,} images, "
        f"{args.rounds} rounds, median of rounds"
    )
    for _ in range(args.rounds):  # alternate every setting and load in each round
        for name, threads in settings.items():
            for busy in (0, 2):
                results.setdefault((name, busy), []).append(measure(threads, args.images, busy))
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print(f"{'setting':<28}{'idle img/s':>12}{'2 busy img/s':>14}{'loaded/idle':>13}")
    med = {k: statistics.median(v) for k, v in results.items()}
    for name in settings:
        idle, loaded = med[(name, 0)], med[(name, 2)]
        print(f"{name:<28}{idle:>12,.0f}{loaded:>14,.0f}{loaded / idle:>12.0%}")
    one, default = list(settings)
    keep = med[(one, 2)] / med[(one, 0)]
    loss = 1 - med[(one, 0)] / med[(default, 0)]
    print(
        f"\n1 thread under load keeps {keep:.0%} of its idle speed (target ≥ 40%: {'met' if keep >= 0.4 else 'NOT met'})"
    )
    print(
        f"1 thread idle against torch's default: {-loss:+.0%} (target: lose ≤ 10%: "
        f"{'met' if loss <= 0.10 else 'NOT met'})"
    )
    print(f"under load, 1 thread is {med[(one, 2)] / med[(default, 2)]:.1f}× torch's default")


if __name__ == "__main__":
    main()
