"""Per-operation cost of the conv and pool paths on the presets' shapes
(mini-batch 10; relu: conv 1→20 maps on 28×28, 20→40 on 12×12; pools of
10×20×24×24 and 10×40×8×8), forward and backward through autograd, in µs of
CPU time (steadier than wall time when other work shares the cores), best and
median of 5 rounds, the candidates taking turns.

    python bench/bench_ops.py            # 1 thread
    python bench/bench_ops.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from convlab.book.convolution import conv2d
from convlab.book.pooling import max_pool


def cost(fn, steps: int = 200) -> list[float]:
    for _ in range(10):
        fn()
    start = time.process_time()
    for _ in range(steps):
        fn()
    return [(time.process_time() - start) / steps * 1e6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    r = lambda *shape, grad=False: torch.randn(shape, generator=g).requires_grad_(grad)
    x1, w1, g1 = r(10, 1, 28, 28), r(20, 1, 5, 5, grad=True), r(10, 20, 24, 24)
    x2, w2, g2 = r(10, 20, 12, 12, grad=True), r(40, 20, 5, 5, grad=True), r(10, 40, 8, 8)
    p1, q1 = r(10, 20, 24, 24, grad=True), r(10, 20, 12, 12)
    p2, q2 = r(10, 40, 8, 8, grad=True), r(10, 40, 4, 4)

    def conv(f, x, w, out_grad):
        inputs = [t for t in (x, w) if t.requires_grad]
        return lambda: torch.autograd.grad(f(x, w), inputs, out_grad)

    def pool(x, out_grad, rule):
        return lambda: torch.autograd.grad(max_pool(x, 2, rule), x, out_grad)

    cases = {
        "conv1 F.conv2d (oneDNN)": conv(F.conv2d, x1, w1, g1),
        "conv1 convlab (im2col)": conv(conv2d, x1, w1, g1),
        "conv2 F.conv2d (oneDNN)": conv(F.conv2d, x2, w2, g2),
        "conv2 convlab": conv(conv2d, x2, w2, g2),
        "pool1 torch rule (F.max_pool2d)": pool(p1, q1, "torch"),
        "pool1 theano rule (convlab)": pool(p1, q1, "theano"),
        "pool2 torch rule (F.max_pool2d)": pool(p2, q2, "torch"),
        "pool2 theano rule (convlab)": pool(p2, q2, "theano"),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            times[name] += cost(fn)
    print(f"torch {torch.__version__}, {args.threads} thread(s); forward+backward, µs of CPU time: best (median)")
    for name, values in times.items():
        print(f"  {name:34s} {min(values):7.0f} ({statistics.median(values):7.0f})")


if __name__ == "__main__":
    main()
