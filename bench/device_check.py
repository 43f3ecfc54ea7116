"""The CUDA path against the CPU on tiny runs, within float32 tolerance.

Trains each preset's network for one epoch of 300 images (30 steps) from the
same seeds on the CPU and on CUDA, through every path a run can take there:
the engine's Trainer, members batched (3), and the batched step captured as a
CUDA graph (dropout included: its generators registered with the graph); then
compares every parameter and the validation accuracies. Without CUDA it checks
what the CPU can: batched members, captured by the CPU stand-in
(convlab/book/graph.py), against separate runs. Exits 1 when a comparison
fails. Part of bench/device_check.sh.

    python bench/device_check.py
"""

from __future__ import annotations

import sys

import torch

from convlab.book import graph
from convlab.book.stacked import BatchedTrainer
from convlab.book.trainer import Trainer, prepare
from convlab.config import spec as specs
from convlab.config.spec import parse_text
from convlab.data import mnist as mnist_data
from convlab.runs import events

TOL = dict(rtol=1e-3, atol=1e-4)  # float32 over 30 steps, different kernels
SEEDS = [1, 2, 3]
SHAPES = ("shallow", "one-conv", "relu", "extra-fc", "dropout")  # every layer pattern of the chapter


def shape(preset: str):
    """The preset's network and rules on 300 images, one epoch."""
    return specs.load(preset).with_train(epochs=1, train_limit=300, data="plain")


def tiny(dropout: float = 0.0):
    return parse_text(
        f"""
name = "tiny"
[train]
activation = "relu"
eta = 0.05
lmbda = 0.1
epochs = 1
train_limit = 300
[[layers]]
type = "conv_pool"
maps = 6
[[layers]]
type = "conv_pool"
maps = 8
[[layers]]
type = "fc"
n_out = 20
dropout = {dropout}
[[layers]]
type = "softmax"
""",
        label="tiny.toml",
    )


def train(trainer) -> tuple[list[list[torch.Tensor]], list[float]]:
    """Each member's parameters (on the CPU) and validation accuracy after the run."""
    if isinstance(trainer, Trainer):
        epochs = [e for e in trainer.run() if isinstance(e, events.Epoch)]
        return [[p.detach().cpu() for p in trainer.params]], [epochs[0].val_acc]
    epochs = [e for _, e in trainer.run() if isinstance(e, events.Epoch)]
    return (
        [[p.detach().cpu() for p in trainer.net.member_params(m)] for m in range(trainer.m)],
        [e.val_acc for e in epochs],
    )


def compare(label: str, a, b) -> bool:
    (pa, va), (pb, vb) = a, b
    worst = max(((x - y).abs().max().item() for ma, mb in zip(pa, pb) for x, y in zip(ma, mb)), default=0.0)
    ok = all(torch.allclose(x, y, **TOL) for ma, mb in zip(pa, pb) for x, y in zip(ma, mb)) and all(
        abs(x - y) <= 0.1 for x, y in zip(va, vb)
    )
    print(
        f"  {'ok  ' if ok else 'FAIL'} {label}: largest parameter difference {worst:.1e}; "
        f"validation {', '.join(f'{v:.2f}' for v in va)} against {', '.join(f'{v:.2f}' for v in vb)}"
    )
    return ok


def main() -> int:
    mnist = mnist_data.load_mnist()
    cpu = torch.device("cpu")
    spec = tiny()
    on_cpu = prepare(spec, mnist, cpu)
    separate = [train(Trainer(spec, on_cpu, cpu, s)) for s in SEEDS]
    separate = ([p for ps, _ in separate for p in ps], [v for _, vs in separate for v in vs])
    batched_cpu = train(BatchedTrainer([spec] * 3, on_cpu, cpu, SEEDS))
    print("tiny runs (300 images, one epoch, seeds 1-3):")
    ok = compare("cpu: batched members = separate runs", batched_cpu, separate)
    stand_in = train(BatchedTrainer([spec] * 3, on_cpu, cpu, SEEDS, seam=graph.StandIn(cpu)))
    ok &= compare("cpu: captured by the stand-in = batched", stand_in, batched_cpu)
    if not torch.cuda.is_available():
        print("  (no CUDA device: the CUDA comparisons are skipped)")
        return 0 if ok else 1
    cuda = torch.device("cuda")
    on_gpu = prepare(spec, mnist, cuda)
    ok &= compare(
        "cuda Trainer = cpu Trainer (seed 1)",
        train(Trainer(spec, on_gpu, cuda, SEEDS[0])),
        ([separate[0][0]], [separate[1][0]]),
    )
    moving = spec.with_train(momentum=0.9)  # chapter 3's momentum: torch's fused SGD kernel on both devices
    ok &= compare(
        "cuda Trainer, momentum 0.9 = cpu Trainer, momentum 0.9 (seed 1)",
        train(Trainer(moving, on_gpu, cuda, SEEDS[0])),
        train(Trainer(moving, on_cpu, cpu, SEEDS[0])),
    )
    ok &= compare(
        "cuda batched (eager) = cpu batched",
        train(BatchedTrainer([spec] * 3, on_gpu, cuda, SEEDS, capture=False)),
        batched_cpu,
    )
    ok &= compare(
        "cuda batched, captured step = cpu batched",
        train(BatchedTrainer([spec] * 3, on_gpu, cuda, SEEDS, capture=True)),
        batched_cpu,
    )
    drop = tiny(dropout=0.5)
    eager = train(BatchedTrainer([drop] * 3, on_gpu, cuda, SEEDS, capture=False))
    captured = train(BatchedTrainer([drop] * 3, on_gpu, cuda, SEEDS, capture=True))
    # dropout masks come from CUDA generators: the same in the graph as eagerly, if replay keeps their sequence
    ok &= compare("cuda dropout: captured = eager (the generators' sequence kept in the graph)", captured, eager)
    print("every preset's shape (300 images, one epoch, seeds 1-3): cuda captured = cpu batched")
    for preset in SHAPES:
        s = shape(preset)
        here, there = prepare(s, mnist, cpu), prepare(s, mnist, cuda)
        cpu_batched = train(BatchedTrainer([s] * 3, here, cpu, SEEDS))
        if preset == "dropout":  # masks come from each device's own generators: compare CUDA with CUDA
            cpu_batched = train(BatchedTrainer([s] * 3, there, cuda, SEEDS, capture=False))
        ok &= compare(f"{preset}: captured, batched 3", train(BatchedTrainer([s] * 3, there, cuda, SEEDS)), cpu_batched)
        ok &= compare(
            f"{preset}: captured, 1 member = eager Trainer",
            train(BatchedTrainer([s], there, cuda, SEEDS[:1])),
            train(Trainer(s, there, cuda, SEEDS[0])),
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
