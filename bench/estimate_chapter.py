"""On paper: how long the whole chapter takes with the book's protocol (every
preset's schedule: 3 runs each, the 5-network ensemble, plus the λ search of
the shipped sweep relu-lambda) on one machine of C cores, and on a Ray cluster of
GPU nodes.

Each preset's training speed is measured here on one CPU thread (the first
`--images` training images after a warm-up); evaluation (20,000 images a
epoch, forward only) is added at `--eval-factor` of a training image. The CPU
estimate divides the work over C workers (one run per core) but never goes
below the longest single run (a run is not split). The GPU figures are an
assumption, not a measurement (no GPU here): at mini-batches of 10 a GPU run is
bound by kernel launches, `--gpu-rate` images/s per run, `--runs-per-gpu` runs
sharing one device.

    python bench/estimate_chapter.py --cores 2 16 --gpu-nodes 8
"""

from __future__ import annotations

import argparse
import time

EVAL_IMAGES = 20_000  # validation + test, each epoch


def measure(spec, mnist, images: int) -> float:
    import torch

    from convlab.book.trainer import Trainer, prepare

    cpu = torch.device("cpu")
    short = spec.with_train(train_limit=images)
    trainer = Trainer(short, prepare(short, mnist, cpu), cpu, seed=1)
    list(trainer.train_epoch(1, lambda: False))  # warm-up
    start = time.perf_counter()
    list(trainer.train_epoch(2, lambda: False))
    return images / (time.perf_counter() - start)


def runs_of(spec) -> list[tuple[str, float]]:
    """(preset, image-equivalents of one run) for each run of the book's protocol."""
    t = spec.train
    size = 250_000 if t.data == "expanded" else 50_000
    return [(spec.name, t.epochs * size)] * max(t.repeats, t.ensemble)


def main() -> None:
    import torch

    from convlab.config import spec as specs
    from convlab.config.paths import sweeps_dir
    from convlab.data import mnist as mnist_data
    from convlab.runs import sweep

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--eval-factor", type=float, default=0.25, help="cost of evaluating an image, in training images")
    p.add_argument("--cores", type=int, nargs="+", default=[2, 16])
    p.add_argument("--gpu-nodes", type=int, default=8)
    p.add_argument("--gpu-rate", type=float, default=4000, help="assumed images/s of one run on a GPU")
    p.add_argument("--runs-per-gpu", type=int, default=4)
    args = p.parse_args()
    torch.set_num_threads(1)
    mnist = mnist_data.load_mnist()
    presets = specs.list_presets()
    lam = [s for _, s in sweep.points(sweep.load_file(sweeps_dir() / "relu-lambda.toml"))]
    speed = {s.name: measure(s, mnist, args.images) for s in presets}
    runs = [
        (name, work, speed[name], epochs)
        for s in presets + lam
        for (name, work), epochs in [(r, s.train.epochs) for r in runs_of(s)]
    ]
    seconds = [work / rate + epochs * EVAL_IMAGES * args.eval_factor / rate for _, work, rate, epochs in runs]
    total, longest = sum(seconds), max(seconds)
    print(
        f"{len(runs)} runs ({len(lam)} of them the λ search), "
        f"{sum(w for _, w, _, _ in runs) / 1e6:.0f} M training images in all"
    )
    for name in speed:
        print(f"  {name:<14} {speed[name]:>7,.0f} training images/s on 1 thread")
    hours = lambda s: f"{s / 3600:,.1f} h"
    print(f"\none run after another, 1 thread: {hours(total)}; the longest single run {hours(longest)}")
    for cores in args.cores:
        print(f"{cores:>3} cores, {cores} workers:        {hours(max(total / cores, longest))}")
    gpu_total = sum(w + e * EVAL_IMAGES * args.eval_factor for _, w, _, e in runs) / args.gpu_rate
    slots = args.gpu_nodes * args.runs_per_gpu
    gpu_longest = max(w + e * EVAL_IMAGES * args.eval_factor for _, w, _, e in runs) / args.gpu_rate
    print(
        f"Ray, {args.gpu_nodes} GPU nodes × {args.runs_per_gpu} runs (assumed {args.gpu_rate:,.0f} images/s a run): "
        f"{hours(max(gpu_total / slots, gpu_longest))} (the longest run alone {hours(gpu_longest)})"
    )


if __name__ == "__main__":
    main()
