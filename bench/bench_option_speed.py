"""Item 3 of issue 24, before and after, side by side: the code as it was and
as it is now alternate in one process, round after round, so a busy machine
slows both alike. Prints each round's ratio, the median, the target and the
load average; and checks that the distortions give the same images (the two
momentum updates agree up to rounding: tests/test_options.py).

- elastic distortions of 50,000 images: the earlier `distort.elastic` (kept
  below) against today's, and both against the one-pixel expansion
  (`mnist.expand` + `to_device`, what a run on the expanded data does once);
  target: no slower than the expansion.
- momentum: the extra time of a step with momentum over the book's plain step,
  with the update in foreach operations (before; today's path where torch has
  no fused SGD kernel) and with torch's fused SGD kernel fed gradients the
  backward scaled by −η (after, `sgd_step` on the CPU); target: under 3%.

    .venv/bin/python bench/bench_option_speed.py [--rounds 5] [--steps 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

from convlab.book import handwritten
from convlab.book.model import Network
from convlab.book.trainer import fused_momentum, momentum_update, sgd_step
from convlab.config.spec import load
from convlab.data import distort, mnist


def elastic_before(images: torch.Tensor, alpha: float, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """`distort.elastic` as it was before this change (chunks of 5,000, G made per chunk)."""
    out = torch.empty_like(images)
    side = images.shape[-1]
    unit = 2 / (side - 1)
    base = distort._pixel_grid(side, images.device).mul_(unit).sub_(1)
    for i in range(0, len(images), 5000):
        part = images[i : i + 5000]
        u = torch.rand(len(part), 2, side, side, generator=gen, device=images.device)
        g = distort.smoothing_matrix(sigma, side, images.device)
        constant = g @ torch.ones(side, side, device=images.device) @ g.T
        g2 = g * math.sqrt(2 * alpha * unit)
        grid = (g2 @ u @ g2.T).sub_(constant.mul_(alpha * unit)).add_(base)
        out[i : i + 5000] = distort._sample(part, grid)
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_elastic(rounds: int, data) -> None:
    x, _ = mnist.to_device(data.train, "cpu")
    same = torch.equal(
        elastic_before(x, 34.0, 4.0, torch.Generator().manual_seed(1)),
        distort.elastic(x, 34.0, 4.0, torch.Generator().manual_seed(1)),
    )
    print(f"elastic, 50,000 images: before and after give identical images: {same}")
    rows = []
    for r in range(rounds):
        gen = torch.Generator().manual_seed(r)
        expand = timed(lambda: mnist.to_device(mnist.expand(data.train), "cpu"))
        before = timed(lambda gen=gen: elastic_before(x, 34.0, 4.0, gen))
        after = timed(lambda gen=gen: distort.elastic(x, 34.0, 4.0, gen))
        rows.append((expand, before, after))
        print(
            f"  round {r + 1}: expansion {expand:.2f} s, before {before:.2f} s, after {after:.2f} s; "
            f"after/before {after / before:.2f}, after/expansion {after / expand:.2f}"
        )
    med = [statistics.median(c) for c in zip(*rows, strict=True)]
    ratios = [statistics.median(a / b for b, a in ((row[1], row[2]) for row in rows))]
    vs_expand = statistics.median(row[2] / row[0] for row in rows)
    print(
        f"  median: expansion {med[0]:.2f} s, before {med[1]:.2f} s, after {med[2]:.2f} s; "
        f"after/before {ratios[0]:.2f}; after/expansion {vs_expand:.2f} (target: at most 1.00)"
    )


def momentum_step_before(net, params, weights, x, y, eta, decay, gen, velocity, mu):
    """sgd_step's momentum step as it was: the update in foreach operations (today's
    path on devices without torch's fused kernel)."""
    loss, grads = handwritten.loss_and_grads(net, x, y, gen)
    with torch.no_grad():
        momentum_update(params, list(grads), velocity, eta, decay, mu, own=True)
    return loss


def bench_momentum(rounds: int, steps: int, data) -> None:
    x, y = mnist.to_device(data.train, "cpu")
    spec = load("relu")
    decay = spec.train.lmbda / 50_000

    def network(momentum: bool):
        net = Network(spec.layers, "theano")
        net.init_(1)
        params = net.book_params()
        return net, params, net.weights(), [torch.zeros_like(p) for p in params] if momentum else None

    setups = {"plain": network(False), "before": network(True), "after": network(True)}

    def steps_of(name: str) -> float:
        net, params, weights, velocity = setups[name]
        step = momentum_step_before if name == "before" else sgd_step
        start = time.perf_counter()
        for i in range(steps):
            j = (10 * i) % 50_000
            step(net, params, weights, x[j : j + 10], y[j : j + 10], 0.03, decay, None, velocity, 0.9)
        return (time.perf_counter() - start) / steps

    extra: dict[str, list[float]] = {"before": [], "after": []}
    for r in range(rounds):
        t = {name: steps_of(name) for name in setups}
        for name in extra:
            extra[name].append(t[name] / t["plain"] - 1)
        print(
            f"  round {r + 1}: plain step {t['plain'] * 1e3:.3f} ms; momentum before {extra['before'][-1]:+.1%} "
            f"({(t['before'] - t['plain']) * 1e6:+.0f} us), after {extra['after'][-1]:+.1%} "
            f"({(t['after'] - t['plain']) * 1e6:+.0f} us)"
        )
    print(
        f"  median extra time of a momentum step: before {statistics.median(extra['before']):+.1%}, "
        f"after {statistics.median(extra['after']):+.1%} (target: under +3%)"
    )
    bench_updates(rounds, setups["plain"], decay)


def bench_updates(rounds: int, setup, decay: float, n: int = 1000) -> None:
    """The update alone, from new gradient tensors as a step makes them: the part
    of a step that momentum changes, measured apart from the step's noise. η is
    tiny, so the parameters stay as they are over the repeats."""
    _, params, weights, _ = setup
    source = [torch.randn_like(p) for p in params]
    velocity = [torch.zeros_like(p) for p in params]
    eta = 1e-30

    def plain(g):  # sgd_step's update without momentum
        torch._foreach_mul_(weights, 1.0 - eta * decay)
        torch._foreach_add_(params, g, alpha=-eta)

    def timed_updates(update) -> float:
        with torch.no_grad():
            start = time.perf_counter()
            for _ in range(n):
                update([s * 1.0 for s in source])  # new tensors, as the hand-written gradients are
            return (time.perf_counter() - start) / n * 1e6

    kinds = {
        "gradients only": lambda g: None,
        "plain": plain,
        "momentum before": lambda g: momentum_update(params, g, velocity, eta, decay, 0.9, True),
        # the step hands the fused update gradients already scaled by −η (its backward's seed)
        "momentum after": lambda g: fused_momentum(params, g, velocity, eta * decay, 0.9),
    }
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(rounds):  # alternating, as the steps above
        for k, f in kinds.items():
            samples[k].append(timed_updates(f))
    times = {k: statistics.median(v) for k, v in samples.items()}
    base = times.pop("gradients only")
    print(
        "  the update alone, new gradients' cost taken off: "
        + ", ".join(f"{k} {t - base:.0f} us" for k, t in times.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = mnist.load_mnist()
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average at start {os.getloadavg()}")
    bench_elastic(args.rounds, data)
    print("momentum, the relu preset's step (mini-batch 10):")
    bench_momentum(args.rounds, args.steps, data)
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
