"""Item 3 of issue 24: elastic distortions against the one-pixel expansion, and
momentum with the plateau schedule against the book's plain step. Prints ratios;
figures go to docs/measurements.md with their conditions.

    .venv/bin/python bench/bench_options.py [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch

from convlab.book.model import Network
from convlab.book.trainer import sgd_step
from convlab.config.spec import load
from convlab.data import distort, mnist


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = mnist.load_mnist()
    x, y = mnist.to_device(data.train, "cpu")
    gen = torch.Generator().manual_seed(1)
    expand = best_of(lambda: mnist.expand(data.train))
    elastic = best_of(lambda: distort.elastic(x, 34.0, 4.0, gen))
    print(f"50,000 images: expansion {expand:.2f} s, elastic {elastic:.2f} s, ratio {elastic / expand:.2f}")

    spec = load("relu")
    for mu in (0.0, 0.9):
        net = Network(spec.layers, "theano")
        net.init_(1)
        params, weights = net.book_params(), net.weights()
        velocity = [torch.zeros_like(p) for p in params] if mu else None

        def steps(net=net, params=params, weights=weights, velocity=velocity, mu=mu):
            for i in range(args.steps):
                sgd_step(
                    net,
                    params,
                    weights,
                    x[10 * i : 10 * i + 10],
                    y[10 * i : 10 * i + 10],
                    0.03,
                    2e-6,
                    None,
                    velocity,
                    mu,
                )

        seconds = best_of(steps) / args.steps
        if mu == 0.0:
            plain = seconds
        print(f"step, momentum {mu:g}: {seconds * 1e3:.3f} ms" + (f" (ratio {seconds / plain:.3f})" if mu else ""))
    print("the schedule: one comparison per epoch (Trainer.end_epoch), nothing per step")


if __name__ == "__main__":
    main()
