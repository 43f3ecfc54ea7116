"""Optimizer steps per second at mini-batch 10, the relu network: one network
eagerly (the engine's Trainer), members batched (3 and 5 as one stacked model),
and, on CUDA, the step captured as a CUDA graph (1, 3 and 5 members). A
batched step trains every member, so "member-steps/s" = steps/s × members.

    python bench/bench_steps.py                  # the CPU: eager and batched
    python bench/bench_steps.py --device cuda    # adds the captured step
    python bench/bench_steps.py --dropout        # and the dropout network (3 and 5 members)

From the member-steps/s of the captured 5-member step it estimates the book
protocol's time (bench/device_check.sh prints it).
"""

from __future__ import annotations

import argparse
import time

import torch

from convlab.book.stacked import BatchedTrainer
from convlab.book.trainer import Trainer, pick_device, prepare
from convlab.config import spec as specs
from convlab.data import mnist as mnist_data


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def steps_per_s(trainer, device: torch.device, steps: int) -> float:
    """Train one epoch of `steps` mini-batches (after one warm-up epoch); steps per second."""
    for _ in trainer.train_epoch(1, lambda: False):
        pass
    sync(device)
    start = time.perf_counter()
    for _ in trainer.train_epoch(2, lambda: False):
        pass
    sync(device)
    return steps / (time.perf_counter() - start)


def measure(device: torch.device, steps: int, preset: str = "relu") -> dict[str, tuple[float, int]]:
    spec = specs.load(preset).with_train(train_limit=steps * 10)
    tensors = prepare(spec, mnist_data.load_mnist(), device)
    rates: dict[str, tuple[float, int]] = {
        "eager, 1 network": (steps_per_s(Trainer(spec, tensors, device, 0), device, steps), 1)
    }
    for m in (3, 5):
        trainer = BatchedTrainer([spec] * m, tensors, device, list(range(m)), capture=False)
        rates[f"batched, {m} members"] = (steps_per_s(trainer, device, steps), m)
    if device.type == "cuda":
        for m in (1, 3, 5):
            trainer = BatchedTrainer([spec] * m, tensors, device, list(range(m)), capture=True)
            rates[f"captured, {m} member{'s' if m > 1 else ''}"] = (steps_per_s(trainer, device, steps), m)
    return rates


def measure_dropout(device: torch.device, steps: int) -> dict[str, tuple[float, int]]:
    """The dropout preset's network (fc 1000 twice, dropout 0.5): batched eagerly and captured, 3 and 5 members."""
    spec = specs.load("dropout").with_train(train_limit=steps * 10, data="plain")
    tensors = prepare(spec, mnist_data.load_mnist(), device)
    rates = {"dropout, eager": (steps_per_s(Trainer(spec, tensors, device, 0), device, steps), 1)}
    for m in (3, 5):
        for capture in (False, True) if device.type == "cuda" else (False,):
            trainer = BatchedTrainer([spec] * m, tensors, device, list(range(m)), capture=capture)
            rates[f"dropout, {'captured' if capture else 'batched'} {m}"] = (steps_per_s(trainer, device, steps), m)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dropout", action="store_true", help="the dropout network too (3 and 5 members)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    rates = measure(device, args.steps)
    if args.dropout:
        rates.update(measure_dropout(device, args.steps))
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), "
        f"torch {torch.__version__}, relu network, mini-batch 10, {args.steps} steps"
    )
    for name, (rate, members) in rates.items():
        print(f"  {name:22s} {rate:9.0f} steps/s   {rate * members:9.0f} member-steps/s")
    relu = {k: v for k, v in rates.items() if not k.startswith("dropout")}  # the protocol's estimate: relu-sized
    best_name, (best, members) = max(relu.items(), key=lambda kv: kv[1][0] * kv[1][1])
    # the book protocol: ~40 million optimizer steps (issue 9), most of them relu-sized or larger networks
    print(
        f"book protocol, ~40 million member-steps at {best * members:,.0f}/s ({best_name}): "
        f"about {40e6 / (best * members) / 60:,.0f} minutes of training (evaluation not counted)"
    )


if __name__ == "__main__":
    main()
