"""Images per second: convlab's engine against a plain PyTorch loop, side by side.

Both train the chapter's two-conv ReLU network (the `relu` preset: conv-pool(20),
conv-pool(40), FC(100), softmax; η = 0.03, λ = 0.1) with mini-batches of 10 on
the first N training images, in one process, alternating, best of R rounds each.

The plain loop is the one most tutorials write: TensorDataset + DataLoader,
nn.Sequential, torch.optim.SGD, loss.backward(), and loss.item() every step.

    python bench/bench_engine.py            # N = 5000, R = 3
    python bench/bench_engine.py --images 20000 --rounds 5 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from convlab import data as mnist_data
from convlab import spec as specs
from convlab.engine import Trainer, pick_device, prepare


TARGET_RATIO = 1.0  # the engine is no slower than the loop most tutorials write

def plain_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(20, 40, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(640, 100), nn.ReLU(), nn.Linear(100, 10),
    )


def plain_epoch(x: torch.Tensor, y: torch.Tensor, device: torch.device, eta: float, decay: float) -> float:
    model = plain_model().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=eta, weight_decay=decay)
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=False)
    start = time.perf_counter()
    total = 0.0
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(y) / (time.perf_counter() - start)


def convlab_epoch(spec, tensors, device) -> float:
    trainer = Trainer(spec, tensors, device, seed=0)
    start = time.perf_counter()
    for _ in trainer.train_epoch(1, lambda: False):  # progress events; the return value is the loss
        pass
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(tensors.train_y) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = pick_device(args.device)
    spec = specs.load("relu").with_train(train_limit=args.images)
    tensors = prepare(spec, mnist_data.load_mnist(), device)
    n_batches = args.images // 10
    # The plain loop reads its data from host memory, as a DataLoader does.
    x_host, y_host = tensors.train_x.cpu(), tensors.train_y.cpu()
    eta, decay = spec.train.eta, spec.train.lmbda / n_batches

    ours, theirs = [], []
    for round in range(args.rounds + 1):  # round 0 warms up both and is not counted
        plain = plain_epoch(x_host, y_host, device, eta, decay)
        engine = convlab_epoch(spec, tensors, device)
        if round:
            theirs.append(plain)
            ours.append(engine)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.images} images, batch 10, best of {args.rounds}")
    print(f"plain PyTorch loop (DataLoader): {max(theirs):8.0f} images/s")
    print(f"convlab engine:                  {max(ours):8.0f} images/s")
    ratio = max(ours) / max(theirs)
    print(f"ratio convlab / plain:           {ratio:8.2f}x  (target: at least {TARGET_RATIO:.2f}x, "
          f"{'met' if ratio >= TARGET_RATIO else 'missed'})")


if __name__ == "__main__":
    main()
