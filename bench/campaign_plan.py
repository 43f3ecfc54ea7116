"""Measure first, then plan: the training speed of the chapter's heavy presets
on one CPU thread, and the projected wall time of the headline campaign
(expanded data, the extra fully-connected layers, dropout, the ensemble).

Each speed is the rate of a second epoch on the first `--images` training
images (the first epoch warms up). Members of the ensemble are measured two
ways: one network at a time (the default on a CPU), and all members batched
as one stacked model (one process). Evaluation (validation + test, 20,000
images an epoch) is timed on the same network.

    python bench/campaign_plan.py --images 2000 --workers 2
"""

from __future__ import annotations

import argparse
import time

EVAL_IMAGES = 20_000
SIZE = {"expanded": 250_000, "plain": 50_000}


def rate_single(spec, mnist, images: int) -> tuple[float, float]:
    """(training images/s, evaluation images/s) of one network."""
    import torch

    from convlab.book.trainer import Trainer, evaluate, prepare

    cpu = torch.device("cpu")
    short = spec.with_train(train_limit=images)
    trainer = Trainer(short, prepare(short, mnist, cpu), cpu, seed=1)
    list(trainer.train_epoch(1, lambda: False))
    start = time.perf_counter()
    list(trainer.train_epoch(2, lambda: False))
    train = images / (time.perf_counter() - start)
    x, y = trainer.tensors.val_x[:2000], trainer.tensors.val_y[:2000]
    start = time.perf_counter()
    evaluate(trainer.net, x, y)
    return train, len(y) / (time.perf_counter() - start)


def rate_batched(spec, mnist, images: int, members: int) -> float:
    """Training images/s per member, members batched as one stacked model."""
    import torch

    from convlab.book.stacked import BatchedTrainer
    from convlab.book.trainer import prepare

    cpu = torch.device("cpu")
    short = spec.with_train(train_limit=images)
    trainer = BatchedTrainer([short] * members, prepare(short, mnist, cpu), cpu, list(range(members)), capture=False)
    list(trainer.train_epoch(1, lambda: False))
    start = time.perf_counter()
    list(trainer.train_epoch(2, lambda: False))
    return images / (time.perf_counter() - start)


def run_hours(spec, train_rate: float, eval_rate: float) -> float:
    t = spec.train
    return (t.epochs * SIZE[t.data] / train_rate + t.epochs * EVAL_IMAGES / eval_rate) / 3600


def main() -> None:
    import os

    import torch

    from convlab.config import spec as specs
    from convlab.data import mnist as mnist_data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--presets", nargs="+", default=["expanded", "wide-300", "wide-1000", "extra-fc", "dropout"])
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, load average {os.getloadavg()[0]:.2f} at the start")
    mnist = mnist_data.load_mnist()
    hours = {}
    for name in args.presets:
        spec = specs.load(name)
        train, ev = rate_single(spec, mnist, args.images)
        hours[name] = run_hours(spec, train, ev)
        print(f"{name:<12} {train:7,.0f} training images/s, {ev:7,.0f} evaluated/s: one run {hours[name]:5.1f} h")
    dropout = specs.load("dropout")
    batched = rate_batched(dropout, mnist, args.images, 5)
    single, ev = rate_single(dropout, mnist, args.images)
    print(
        f"dropout, 5 members batched: {batched:7,.0f} images/s per member "
        f"({batched / single:.2f}× one at a time, measured again: {single:,.0f})"
    )
    ensemble = 5 * run_hours(dropout, single, ev)
    minimum = hours.get("expanded", 0) + ensemble
    print(
        f"\nthe minimum campaign (1 expanded + the 5-member ensemble): {minimum:.1f} CPU hours, "
        f"about {minimum / args.workers:.1f} h of wall time on {args.workers} workers "
        f"(the longest run alone {max(hours.get('expanded', 0), ensemble / 5):.1f} h)"
    )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
