"""Images per second: convlab's engine against the same network written the
usual way, side by side, at 1 and 2 threads.

Three programs train the chapter's two-conv ReLU network (the `relu` preset:
conv-pool(20), conv-pool(40), FC(100), softmax; η = 0.03, λ = 0.1) with
mini-batches of 10 on the first N training images, in one process, taking
turns, R rounds each (the first round of each warms up and is not counted):

- reference: a plain PyTorch loop with the same layers, the way most people
  write it (TensorDataset + DataLoader, nn.Sequential, torch.optim.SGD,
  loss.backward(), loss.item() every step);
- engine (before): convlab's engine with its earlier paths, oneDNN for every
  convolution and F.max_pool2d (PyTorch's pool gradient);
- engine (autograd): the engine before its hand-written step: autograd
  through Network.forward (conv1 by im2col, conv2 by oneDNN, the book's pool
  gradient by slices; see convlab/book/convolution.py and convlab/book/pooling.py);
- engine: convlab's engine as it is: on the CPU the step's gradients are
  written by hand (convlab/book/handwritten.py).

The goal is 1.3× the book's own program (network3.py on Aesara with CorrMM).
bench/bench_network3.py runs it side by side with the engine (given your own
copy of network3.py and an Aesara interpreter). This script compares the
engine with PyTorch programs only: the ratio to network3.py is that script's.

Speeds are wall-clock (what a user waits for) and CPU time (what the process
used: steadier when other work shares the cores). It also trains one epoch
of each engine from the same seed and prints the validation accuracies. The
paths differ in rounding only, but one epoch of 2,000 images is the
unstable start of training, which amplifies it: expect the accuracies to
differ by points (74.7, 78.3 and 66.8% in one run), not hundredths. The
exact check of the paths is tests/test_handwritten.py (float64, 1e-10).

    python bench/bench_engine.py                 # N = 2000, R = 5, threads 1 and 2
    python bench/bench_engine.py --images 5000 --rounds 3 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from convlab.book import handwritten, model
from convlab.book.trainer import Trainer, accuracy, pick_device, prepare
from convlab.config import spec as specs
from convlab.data import mnist as mnist_data


def plain_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 20, 5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(20, 40, 5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(640, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    )


def reference_epoch(x: torch.Tensor, y: torch.Tensor, device: torch.device, eta: float, decay: float) -> None:
    model_ = plain_model().to(device)
    opt = torch.optim.SGD(model_.parameters(), lr=eta, weight_decay=decay)
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=10, shuffle=False):
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        loss = F.cross_entropy(model_(xb), yb)
        loss.backward()
        opt.step()
        loss.item()


@contextmanager
def before_paths():
    """The engine's earlier paths: F.conv2d (oneDNN) everywhere and PyTorch's pool."""
    saved = model.conv2d
    model.conv2d = F.conv2d
    try:
        yield
    finally:
        model.conv2d = saved


@contextmanager
def autograd_path():
    """The engine's step through autograd, as before convlab/book/handwritten.py."""
    saved = handwritten.supports
    handwritten.supports = lambda net, x: False
    try:
        yield
    finally:
        handwritten.supports = saved


def engine_epoch(spec, tensors, device) -> Trainer:
    trainer = Trainer(spec, tensors, device, seed=0)
    for _ in trainer.train_epoch(1, lambda: False):
        pass
    return trainer


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(threads: int, args, spec, tensors, device) -> dict[str, list[tuple[float, float]]]:
    torch.set_num_threads(threads)
    n = len(tensors.train_y)
    x_host, y_host = tensors.train_x.cpu(), tensors.train_y.cpu()
    eta, decay = spec.train.eta, spec.train.lmbda / (n // 10)
    old = spec.with_train(pool_gradient="torch")

    def before():
        with before_paths():
            engine_epoch(old, tensors, device)

    def autograd():
        with autograd_path():
            engine_epoch(spec, tensors, device)

    programs = {
        "reference (plain PyTorch loop)": lambda: reference_epoch(x_host, y_host, device, eta, decay),
        "engine (before: oneDNN, torch pool)": before,
        "engine (autograd, book's pool)": autograd,
        "engine": lambda: engine_epoch(spec, tensors, device),
    }
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in programs}
    for round_ in range(args.rounds + 1):
        for name, run in programs.items():
            wall, cpu = timed(run)
            if round_:  # round 0 warms up
                rates[name].append((n / wall, n / cpu))
    return rates


def report(threads: int, rates: dict[str, list[tuple[float, float]]]) -> None:
    print(
        f"\n{threads} thread{'s' if threads > 1 else ''}: images/s, median of {len(next(iter(rates.values())))} "
        f"rounds (best)"
    )
    med = {}
    for name, values in rates.items():
        wall = [w for w, _ in values]
        cpu = [c for _, c in values]
        med[name] = (statistics.median(wall), statistics.median(cpu))
        print(
            f"  {name:38s} wall {med[name][0]:7.0f} ({max(wall):6.0f})   cpu time {med[name][1]:7.0f} ({max(cpu):6.0f})"
        )
    names = list(rates)
    for i, kind in enumerate(("wall", "cpu time")):
        ours, ref, before, auto = med[names[3]][i], med[names[0]][i], med[names[1]][i], med[names[2]][i]
        print(
            f"  [{kind}] engine / reference {ours / ref:5.2f}x   engine / before {ours / before:5.2f}x   "
            f"engine / autograd {ours / auto:5.2f}x"
        )


def same_numbers(spec, tensors, device) -> None:
    """One epoch of each engine from seed 0, torch's pool rule for both: validation accuracy."""
    old = spec.with_train(pool_gradient="torch")
    with before_paths():
        a = engine_epoch(old, tensors, device)
        acc_a = accuracy(a.net, tensors.val_x, tensors.val_y)
    b = engine_epoch(old, tensors, device)
    acc_b = accuracy(b.net, tensors.val_x, tensors.val_y)
    c = engine_epoch(spec, tensors, device)
    acc_c = accuracy(c.net, tensors.val_x, tensors.val_y)
    drift = max((p - q).abs().max().item() for p, q in zip(a.params, b.params))
    print(
        f"\nsame seed, one epoch, validation accuracy: before {acc_a:.2f}%, engine (torch pool) {acc_b:.2f}%, "
        f"engine (book's pool, the default) {acc_c:.2f}%; largest parameter difference before/engine "
        f"(torch pool) {drift:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    device = pick_device(args.device)
    spec = specs.load("relu").with_train(train_limit=args.images)
    tensors = prepare(spec, mnist_data.load_mnist(), device)
    print(
        f"device {device}, torch {torch.__version__}, relu network, {args.images} images, mini-batch 10, "
        f"{args.rounds} rounds, programs alternating"
    )
    for threads in args.threads:
        report(threads, measure(threads, args, spec, tensors, device))
    torch.set_num_threads(args.threads[0])
    same_numbers(spec, tensors, device)


if __name__ == "__main__":
    main()
