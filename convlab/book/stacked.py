"""Members batched: networks of one architecture that train on the same data
in the same order (a group's repeats, an ensemble's members, sweep points that
differ only in η, λ or seed) train as one model with stacked parameters.

Each member keeps everything of its own separate run: its initialisation (from
its seed, drawn exactly as `Network.init_` draws it), its dropout masks (from
its own generator, in the same order), its η and λ, its best-validation
bookkeeping, and a checkpoint in the one format (checkpoint.py), so a member
can resume batched or alone. Batched members give the same parameters as separate runs
(tests/test_batched.py).

Layout: conv-pool activations are (N, M·maps, h, w), member-major along the
channels, so the first conv layer (one shared input) is one convolution with
M·maps filters and later ones are grouped convolutions (groups = M); fully
connected layers are batched matrix products on (M, N, n_in).

At a mini-batch of 10 a GPU is starved by kernel launches: M members cost
about the launches of one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from convlab.book import checkpoint
from convlab.book.checkpoint import Position
from convlab.book.convolution import conv2d
from convlab.book.graph import Seam, Step, seam_for
from convlab.book.model import Network, activation_function
from convlab.book.pooling import max_pool
from convlab.book.trainer import (
    DROPOUT_SEED_OFFSET,
    EVAL_CHUNK,
    PROGRESS_STEPS,
    SHUFFLE_SEED_OFFSET,
    Tensors,
    TrainingDiverged,
    TrainingStopped,
    eta_at,
)
from convlab.config.spec import Spec
from convlab.runs import events


def batchable(specs: list[Spec]) -> str | None:
    """Why these specs cannot train as one batch, or None when they can."""
    first = specs[0]
    for spec in specs:
        if spec.layers != first.layers or spec.train.pool_gradient != first.train.pool_gradient:
            return "members differ in architecture"
        if (spec.train.data, spec.train.train_limit, spec.train.batch_size, spec.train.epochs) != (
            first.train.data,
            first.train.train_limit,
            first.train.batch_size,
            first.train.epochs,
        ):
            return "members differ in data, batch size or epochs"
        if spec.train.shuffle:
            return "reshuffling gives each member its own order"
        if spec.train.patience:
            return "early stopping ends members at different epochs"
        if spec.train.eta_schedule != "fixed":
            return "the plateau schedule gives each member its own η and last epoch"
        if spec.train.momentum:
            return "momentum is not implemented for stacked members"
        if "elastic" in spec.train.data:
            return "elastic distortions give each member its own images"
    return None


class StackedNetwork:
    """M networks of one architecture with parameters stacked on a leading member axis."""

    def __init__(self, spec: Spec, seeds: list[int], device: torch.device, dtype=torch.float32):
        self.layers, self.m = spec.layers, len(seeds)
        self.pool_gradient = spec.train.pool_gradient
        nets = []
        for seed in seeds:
            net = Network(spec.layers, spec.train.pool_gradient).to(dtype)
            net.init_(seed)
            nets.append(net)
        # per layer weight then bias, each (M, *shape): the order of Network.book_params
        self.params = [
            torch.stack([net.book_params()[i].detach() for net in nets]).to(device).requires_grad_()
            for i in range(2 * len(spec.layers))
        ]
        self.weights = self.params[0::2]

    def member_params(self, m: int) -> list[torch.Tensor]:
        return [p[m] for p in self.params]

    def forward(
        self,
        x: torch.Tensor,
        train: bool = False,
        gens: list[torch.Generator] | None = None,
        params: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Logits (M, N, 10) for images x (N, 1, 28, 28), shared by the members."""
        params = self.params if params is None else params
        m, shared = self.m, True  # shared: x is still the one input of every member
        for i, layer in enumerate(self.layers):
            w, b = params[2 * i], params[2 * i + 1]
            act = activation_function(layer.activation)
            if layer.type == "conv_pool":
                filters = w.reshape(m * layer.maps, *w.shape[2:])
                z = conv2d(x, filters) if shared else F.conv2d(x, filters, groups=m)
                x = act(max_pool(z, layer.pool, self.pool_gradient) + b.reshape(1, -1, 1, 1))
                shared = False
                continue
            if shared:
                x = x.flatten(1).expand(m, *x.flatten(1).shape)
            elif x.dim() == 4:  # (N, M·C, h, w) → (M, N, C·h·w), each member's flattening as Network's
                n = x.shape[0]
                x = x.reshape(n, m, -1).transpose(0, 1)
            shared = False
            p = layer.dropout
            if p and train:
                # each member's mask from its own generator, drawn as its separate run draws it
                keep = torch.stack([torch.empty_like(x[j]).bernoulli_(1.0 - p, generator=gens[j]) for j in range(m)])
                x = torch.baddbmm(b.unsqueeze(1), x * keep, w)
            elif p:
                x = torch.baddbmm(b.unsqueeze(1), x, w, alpha=1.0 - p)
            else:
                x = torch.baddbmm(b.unsqueeze(1), x, w)
            x = act(x)
        return x

    @torch.inference_mode()
    def predict(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Predicted digits (M, N)."""
        return torch.cat(
            [self.forward(x[i : i + EVAL_CHUNK], params=params).argmax(2) for i in range(0, len(x), EVAL_CHUNK)], dim=1
        )


def member_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's mean NLL over the mini-batch, (M,)."""
    m, n, classes = logits.shape
    return F.cross_entropy(logits.reshape(m * n, classes), y.repeat(m), reduction="none").view(m, n).mean(1)


def stacked_sgd_step(
    net: StackedNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    neg_eta: list[torch.Tensor],
    keep: list[torch.Tensor],
    gens: list[torch.Generator] | None,
) -> torch.Tensor:
    """The book's SGD step for every member at once: W ← W·(1 − η_m·λ_m/n) − η_m·∂C_m/∂W.
    `neg_eta` and `keep` hold −η_m and 1 − η_m·λ_m/n shaped to broadcast over
    each parameter (keep for weights only). Returns the members' losses (M,)."""
    losses = member_losses(net.forward(x, train=True, gens=gens), y)
    grads = torch.autograd.grad(losses.sum(), net.params)  # members are independent: each gets its own
    with torch.no_grad():
        torch._foreach_mul_(net.weights, keep)
        torch._foreach_addcmul_(net.params, grads, neg_eta)
    return losses.detach()


def _per_member(values: list[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, *([1] * (like.dim() - 1)))


class BatchedTrainer:
    """Trains M members as one; yields (member index, event) for each member's
    events, the events `Trainer` yields."""

    def __init__(
        self,
        specs: list[Spec],
        tensors: Tensors,
        device: torch.device,
        seeds: list[int],
        capture: bool = True,
        seam: Seam | None = None,
    ):
        why = batchable(specs)
        if why:
            raise ValueError(f"cannot batch these members: {why}")
        self.specs, self.tensors, self.device, self.seeds = specs, tensors, device, seeds
        self.net = StackedNetwork(specs[0], seeds, device, dtype=tensors.train_x.dtype)
        self.best = [p.detach().clone() for p in self.net.params]
        self.dropout_gens = [torch.Generator(device=device).manual_seed(s + DROPOUT_SEED_OFFSET) for s in seeds]
        self.shuffle_gens = [torch.Generator(device=device).manual_seed(s + SHUFFLE_SEED_OFFSET) for s in seeds]
        self.positions = [Position() for _ in seeds]
        self.n_batches = len(tensors.train_y) // specs[0].train.batch_size
        self.epochs = specs[0].train.epochs
        self.seam = seam or seam_for(device)  # graph.py: CUDA's calls, or the CPU's stand-in in the tests
        self.dropout = any(l.dropout for l in self.net.layers)
        self.capture = capture and self.seam.why_not_capture(self.dropout) is None
        self.step = None
        self.images_per_s: float | None = None  # the last epoch's training images per second, each member's

    @property
    def path(self) -> str:
        """How it trains: "batched N", or "captured" (one member) / "captured, batched N"."""
        batched = f"batched {self.m}" if self.m > 1 else ""
        if not self.capture:
            return batched or "eager"
        return f"captured, {batched}" if batched else "captured"

    @property
    def m(self) -> int:
        return len(self.seeds)

    @property
    def images(self) -> int:
        """Training images per epoch (each member's)."""
        return len(self.tensors.train_y)

    # ------------------------------------------------------------ checkpoints (checkpoint.py, per member)

    def checkpoint(self, m: int) -> bytes:
        return checkpoint.save(
            self.net.member_params(m),
            [p[m] for p in self.best],
            self.dropout_gens[m],
            self.shuffle_gens[m],
            self.positions[m],
        )

    def restore(self, m: int, blob: bytes) -> None:
        self.positions[m] = checkpoint.restore(
            blob, self.net.member_params(m), [p[m] for p in self.best], self.dropout_gens[m], self.shuffle_gens[m]
        )

    # ------------------------------------------------------------ training

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[int, events.Event]]:
        start_epoch = {p.epoch for p in self.positions}
        if len(start_epoch) != 1:
            raise ValueError("batched members must resume from the same epoch")
        self.seam.reset_peak()
        for epoch in range(start_epoch.pop() + 1, self.epochs + 1):
            start = time.perf_counter()
            losses = yield from self.train_epoch(epoch, should_stop)
            self.seam.synchronize()  # the epoch's training time is the device's, not the launches'
            self.images_per_s = self.images / (time.perf_counter() - start)
            yield from self.end_epoch(epoch, losses, start)
        yield from self.finish()

    def _constants(self, epoch: int) -> tuple[list[float], list[float]]:
        """−η_m and 1 − η_m·λ_m/n for every member in this epoch."""
        etas = [eta_at(spec, epoch) for spec in self.specs]
        keeps = [1.0 - eta * spec.train.lmbda / self.n_batches for eta, spec in zip(etas, self.specs)]
        return [-e for e in etas], keeps

    def _step_for(self, epoch: int):
        """The training step (captured as a CUDA graph on CUDA), built once, its constants set per epoch."""
        neg_eta, keeps = self._constants(epoch)
        if self.step is None:
            gens = self.dropout_gens if self.dropout else None
            body = partial(stacked_sgd_step, self.net)
            self.step = Step(
                body,
                self.net.params,
                [_per_member(neg_eta, p) for p in self.net.params],
                [_per_member(keeps, w) for w in self.net.weights],
                gens,
                (self.specs[0].train.batch_size, *self.tensors.train_x.shape[1:]),
                self.seam,
                capture=self.capture,
            )
        else:
            self.step.set_constants(neg_eta, keeps)
        self.step.total.zero_()
        return self.step

    def train_epoch(self, epoch: int, should_stop: Callable[[], bool]) -> Iterator[tuple[int, events.Progress]]:
        t, bs, n = self.tensors, self.specs[0].train.batch_size, self.n_batches
        step = self._step_for(epoch)
        every = max(1, n // PROGRESS_STEPS)
        start = time.perf_counter()
        for i in range(n):
            if should_stop():
                raise TrainingStopped
            step(t.train_x[i * bs : (i + 1) * bs], t.train_y[i * bs : (i + 1) * bs])
            if (i + 1) % every == 0 or i + 1 == n:
                elapsed = time.perf_counter() - start
                rate = (i + 1) * bs / elapsed if elapsed > 0 else 0.0
                for m in range(self.m):
                    yield (
                        m,
                        events.Progress(
                            epoch=epoch,
                            batch=i + 1,
                            batches=n,
                            images_per_s=round(rate, 1),
                            seconds_left=round((n - i - 1) * bs / rate, 1) if rate else None,
                        ),
                    )
        return step.total / n  # still on the device: end_epoch fetches it with the accuracies

    def _accuracies(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's percent correct (M,), still on the device."""
        return (self.net.predict(x) == y).double().mean(1) * 100.0

    @torch.inference_mode()
    def _evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's percent correct and mean NLL (M,), as trainer.evaluate, still on the device."""
        correct = torch.zeros(self.m, dtype=torch.float64, device=x.device)
        nll = torch.zeros(self.m, dtype=torch.float64, device=x.device)
        for i in range(0, len(x), EVAL_CHUNK):
            z, target = self.net.forward(x[i : i + EVAL_CHUNK]), y[i : i + EVAL_CHUNK]
            correct += (z.argmax(2) == target).sum(1)
            m, n, classes = z.shape
            nll += (
                F.cross_entropy(z.reshape(m * n, classes), target.repeat(m), reduction="none")
                .view(m, n)
                .sum(1)
                .double()
            )
        return correct / len(y) * 100.0, nll / len(y)

    def end_epoch(self, epoch: int, losses: torch.Tensor, started: float) -> Iterator[tuple[int, events.Epoch]]:
        t = self.tensors
        val, val_loss = self._evaluate(t.val_x, t.val_y)
        if self.device.type == "cuda":
            # evaluating the test set every epoch costs a GPU little and saves a second wait
            test = self._accuracies(t.test_x, t.test_y)
            losses, val, val_loss, test = torch.stack([losses.double(), val, val_loss, test]).tolist()  # one sync
        else:
            losses, val, val_loss = torch.stack([losses.double(), val, val_loss]).tolist()
            test = None
        diverged = [m for m, loss in enumerate(losses) if not math.isfinite(loss)]
        if diverged:  # checked once an epoch, with the host sync above; nothing NaN gets stored
            raise TrainingDiverged(epoch, self.n_batches, eta_at(self.specs[diverged[0]], epoch), members=diverged)
        improved = [v >= p.best_val for v, p in zip(val, self.positions)]  # ties count, as in the book
        if test is None:
            test = self._accuracies(t.test_x, t.test_y).tolist() if any(improved) else [None] * self.m
        with torch.no_grad():
            for m, better in enumerate(improved):
                if better:
                    for best, p in zip(self.best, self.net.params):
                        best[m].copy_(p[m])
        for m, p in enumerate(self.positions):
            if improved[m]:
                p.best_val, p.best_epoch, p.test_at_best, p.since_best = val[m], epoch, test[m], 0
            else:
                p.since_best += 1
            p.epoch = epoch
        seconds = time.perf_counter() - started  # the epoch, evaluation included
        first = self.net.layers[0]
        filters = self.net.params[0].detach()[:, :, 0].float().cpu().numpy() if first.type == "conv_pool" else None
        peak = self.seam.peak_memory()
        for m, p in enumerate(self.positions):
            yield (
                m,
                events.Epoch(
                    epoch=epoch,
                    train_loss=losses[m],
                    val_acc=val[m],
                    val_loss=val_loss[m],
                    test_acc=test[m] if improved[m] else None,
                    best_val=p.best_val,
                    best_epoch=p.best_epoch,
                    test_at_best=p.test_at_best,
                    seconds=seconds,
                    learning_rate=eta_at(self.specs[m], epoch),
                    filters=None if filters is None else filters[m],
                    checkpoint=self.checkpoint(m),
                    images_per_s=None if self.images_per_s is None else round(self.images_per_s, 1),
                    peak_memory=peak,
                ),
            )

    def finish(self) -> Iterator[tuple[int, events.Finished]]:
        predictions = self.net.predict(self.tensors.test_x, params=self.best).cpu().numpy().astype(np.uint8)
        with torch.no_grad():
            torch._foreach_copy_(self.net.params, self.best)
        for m, p in enumerate(self.positions):
            yield (
                m,
                events.Finished(
                    best_val=p.best_val,
                    best_epoch=p.best_epoch,
                    test_at_best=p.test_at_best,
                    epochs_done=p.epoch,
                    stopped_early=p.epoch < self.epochs,
                    predictions=predictions[m],
                ),
            )
