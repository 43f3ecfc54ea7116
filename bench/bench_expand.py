"""Seconds to expand MNIST's 50,000 training images to 250,000 (each image and
its four one-pixel shifts, as the book's expand_mnist.py), against the target
of 2 s. Best of R rounds, since other processes may hold the CPUs.

    .venv/bin/python bench/bench_expand.py            # R = 3
    .venv/bin/python bench/bench_expand.py --rounds 5
"""

from __future__ import annotations

import argparse
import time

from convlab.data.mnist import expand, load_mnist

TARGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    train = load_mnist().train
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        out = expand(train)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(
        f"expand {len(train):,} → {len(out):,} images: best {best:.2f} s of {args.rounds} "
        f"({', '.join(f'{t:.2f}' for t in times)}); target {TARGET_S:.1f} s; "
        f"ratio {best / TARGET_S:.2f} ({'within' if best <= TARGET_S else 'over'} target)"
    )


if __name__ == "__main__":
    main()
