"""Training and evaluation by the book's rules; knows nothing of screens or storage.

`Trainer.run` is a generator of events (convlab/runs/events.py): `Progress`
within an epoch, `Epoch` after each one (with a checkpoint to store), and
`Finished` with the test predictions of the best-validation epoch. The caller
records, prints or draws them.

Speed: the data sit on the run's device and batches are slices of it (or of a
permutation, when reshuffling); the running loss stays a device tensor, so the
host waits on the device only at the epoch's progress points (to stop a run
whose loss became NaN, `TrainingDiverged`), not once per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from convlab.book import checkpoint, handwritten
from convlab.book.checkpoint import Position
from convlab.book.graph import Seam, seam_for
from convlab.book.model import Network
from convlab.config.spec import Spec
from convlab.data import distort
from convlab.data import mnist as mnist_data
from convlab.errors import UserError
from convlab.runs import events

EVAL_CHUNK = 1000  # evaluation batch; accuracy equals the book's mean over mini-batches of 10
PROGRESS_STEPS = 50  # progress events per epoch
DROPOUT_SEED_OFFSET = 1_000_003
SHUFFLE_SEED_OFFSET = 2_000_003
DISTORT_SEED_OFFSET = 3_000_017
FUSED_SGD = hasattr(torch, "_fused_sgd_")  # the kernel behind torch.optim.SGD(fused=True)
FUSED_DEVICES = ("cpu", "cuda")  # where that kernel runs


class TrainingStopped(Exception):
    """Raised between mini-batches when the caller asks the run to stop
    (the run is then stored as interrupted: events.Interrupted)."""


class TrainingDiverged(Exception):
    """The training loss stopped being a number: nothing after it can learn."""

    def __init__(self, epoch: int, batch: int, eta: float, members: list[int] | None = None):
        # members: for a batched model, which members diverged (the others are healthy)
        self.epoch, self.batch, self.eta, self.members = epoch, batch, eta, members
        super().__init__(
            f"the training loss became NaN or infinite in epoch {epoch} (by mini-batch {batch}); "
            f"η = {eta:g} is likely too large for this network: try a smaller train.eta"
        )

    def __reduce__(self):  # so that it crosses from a worker process whole
        return TrainingDiverged, (self.epoch, self.batch, self.eta, self.members)


def pick_device(name: str | None = None) -> torch.device:
    """cuda, then mps, then cpu; or the one asked for, if it is there."""
    if not name or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: not a device name; use auto, cpu, cuda, cuda:N or mps") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
    }.get(device.type, False)
    if not available:
        raise UserError(
            f"--device {name}: not available on this machine (torch {torch.__version__} "
            f"sees no such device); use --device cpu or leave it out to choose automatically"
        )
    return device


@dataclass
class Tensors:
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def prepare(spec: Spec, mnist: mnist_data.MNIST, device: torch.device) -> Tensors:
    """The training set the spec asks for (plain or expanded, perhaps cut to
    its first `train_limit` images), validation and test, all on `device`."""
    expanded = spec.train.data in ("expanded", "expanded_elastic")  # elastic: distorted every epoch (Trainer)
    train = mnist_data.expand(mnist.train) if expanded else mnist.train
    if spec.train.train_limit:
        train = mnist_data.Split(train.images[: spec.train.train_limit], train.labels[: spec.train.train_limit])
    if len(train) < spec.train.batch_size:
        raise UserError(
            f"--train-limit {spec.train.train_limit}: fewer images than one mini-batch "
            f"of {spec.train.batch_size}; ask for more"
        )
    return Tensors(
        *mnist_data.to_device(train, device),
        *mnist_data.to_device(mnist.validation, device),
        *mnist_data.to_device(mnist.test, device),
    )


def eta_at(spec: Spec, epoch: int, halvings: int = 0) -> float:
    """η of an epoch: the preset's, under today's step decay or after the
    plateau schedule's `halvings` (Position.halvings)."""
    t = spec.train
    if not t.eta_decay_every:
        return t.eta * 0.5**halvings
    return t.eta * t.eta_decay ** ((epoch - 1) // t.eta_decay_every)


def schedule_step(spec: Spec, p: Position, new_best: bool) -> None:
    """Chapter 3's schedule after an epoch: halve η when validation has not
    reached a new best for `schedule_patience` epochs (counted afresh after
    each halving); once η would fall to eta_floor·η₀ the run is over."""
    t = spec.train
    if t.eta_schedule != "halve_on_plateau":
        return
    p.plateau = 0 if new_best else p.plateau + 1
    if p.plateau >= t.schedule_patience:
        p.halvings, p.plateau = p.halvings + 1, 0


def schedule_ended(spec: Spec, p: Position) -> bool:
    """True once the plateau schedule has brought η down to its floor."""
    return spec.train.eta_schedule == "halve_on_plateau" and 0.5**p.halvings <= spec.train.eta_floor * (1 + 1e-9)


@torch.inference_mode()
def predict(net: Network, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(x[i : i + EVAL_CHUNK]).argmax(1) for i in range(0, len(x), EVAL_CHUNK)])


def accuracy(net: Network, x: torch.Tensor, y: torch.Tensor) -> float:
    """Percent correct (the one host sync of an evaluation)."""
    return (predict(net, x) == y).double().mean().item() * 100.0


@torch.inference_mode()
def evaluate(net: Network, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Percent correct and the mean negative log-likelihood, from one pass and
    one host sync. The loss is the book's cost without its L2 term: the weights
    are the same for every image, so that term says nothing about the data."""
    correct = torch.zeros((), dtype=torch.float64, device=x.device)
    nll = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, len(x), EVAL_CHUNK):
        z, target = net(x[i : i + EVAL_CHUNK]), y[i : i + EVAL_CHUNK]
        correct += (z.argmax(1) == target).sum()
        nll += F.cross_entropy(z, target, reduction="sum").double()
    acc, loss = (torch.stack([correct, nll]) / len(y)).tolist()
    return acc * 100.0, loss


def sgd_step(
    net: Network,
    params: list[torch.Tensor],
    weights: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    eta: float,
    decay: float,
    gen: torch.Generator | None,
    velocity: list[torch.Tensor] | None = None,
    momentum: float = 0.0,
) -> torch.Tensor:
    """One step of the book's SGD: p ← p − η·∂C/∂p with C = NLL + 0.5·λ·ΣW²/n.
    The L2 part of the gradient, (λ/n)·W, is applied to weights only. With
    `velocity` (one tensor per param), chapter 3's momentum instead:
    v ← μv − η·∂C/∂p, p ← p + v, with the same C (torch's fused kernel where
    it runs, else foreach operations). `params` is net.book_params(). On the
    CPU the gradients are written by hand (convlab/book/handwritten.py, the
    faster path there); elsewhere, and for what that path does not cover,
    autograd computes them."""
    fused = velocity is not None and FUSED_SGD and x.device.type in FUSED_DEVICES
    seed = -eta if fused else 1.0  # every gradient is linear in the backward's seed: −η·∇C₀ costs nothing
    own = handwritten.supports(net, x)  # the hand-written gradients are new tensors of this step's own
    if own:
        loss, grads = handwritten.loss_and_grads(net, x, y, gen, seed)
    else:
        loss = F.cross_entropy(net(x, train=True, gen=gen), y)
        grads = torch.autograd.grad(loss, params, torch.full_like(loss, seed))
    with torch.no_grad():
        if fused:
            fused_momentum(params, list(grads), velocity, eta * decay, momentum)
        elif velocity is not None:
            momentum_update(params, list(grads), velocity, eta, decay, momentum, own)
        else:
            if decay:
                torch._foreach_mul_(weights, 1.0 - eta * decay)
            torch._foreach_add_(params, grads, alpha=-eta)
    return loss.detach()


def fused_momentum(
    params: list[torch.Tensor], scaled: list[torch.Tensor], velocity: list[torch.Tensor], eta_decay: float, mu: float
) -> None:
    """Chapter 3's momentum step in torch's fused SGD kernel, one pass a tensor,
    from the gradients scaled by −η. The kernel does b ← μb + (g + wd·p),
    p ← p − lr·b: with g = −η∇C₀, wd = −η·λ/n on the weights (params[0::2]),
    0 on the biases, and lr = −1, its b is the book's v and p ← p + v."""
    for group, wd in ((slice(0, None, 2), -eta_decay), (slice(1, None, 2), 0.0)):
        torch._fused_sgd_(
            params[group], scaled[group], velocity[group], weight_decay=wd, momentum=mu, lr=-1.0,
            dampening=0.0, nesterov=False, maximize=False, is_first_step=False,
        )  # fmt: skip


def momentum_update(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    velocity: list[torch.Tensor],
    eta: float,
    decay: float,
    mu: float,
    own: bool,
) -> None:
    """Chapter 3's v ← μv − η(∇C₀ + (λ/n)·w), p ← p + v, the L2 term on weights
    (params[0::2]) only, in foreach operations: where torch has no fused kernel.
    `own`: the grads are this step's to overwrite."""
    weights = params[0::2]
    if decay and own:  # the L2 term added in place: the same sums, no new tensors to allocate
        torch._foreach_add_(grads[0::2], weights, alpha=decay)
    elif decay:
        grads[0::2] = torch._foreach_add(grads[0::2], weights, alpha=decay)
    torch._foreach_mul_(velocity, mu)
    torch._foreach_add_(velocity, grads, alpha=-eta)
    torch._foreach_add_(params, velocity)


class Trainer:
    """One network trained by a spec: build it, run its epochs, report."""

    path = "eager"  # one network, its step launched op by op (docs/guide: which path a run takes)

    def __init__(self, spec: Spec, tensors: Tensors, device: torch.device, seed: int, seam: Seam | None = None):
        self.spec, self.tensors, self.device, self.seed = spec, tensors, device, seed
        self.seam = seam or seam_for(device)  # the device's figures: its name, synchronising, peak memory
        self.net = Network(spec.layers, spec.train.pool_gradient)
        self.net.init_(seed)
        self.net.to(device)
        self.params = self.net.book_params()
        self.weights = self.net.weights()
        self.best = [p.detach().clone() for p in self.params]
        self.dropout_gen = torch.Generator(device=device).manual_seed(seed + DROPOUT_SEED_OFFSET)
        self.shuffle_gen = torch.Generator(device=device).manual_seed(seed + SHUFFLE_SEED_OFFSET)
        self.distort_gen = (  # data "elastic": the run's own sequence of distortions
            torch.Generator(device=device).manual_seed(seed + DISTORT_SEED_OFFSET)
            if "elastic" in spec.train.data
            else None
        )
        self.velocity = [torch.zeros_like(p) for p in self.params] if spec.train.momentum else None
        self.position = Position()
        self.n_batches = len(tensors.train_y) // spec.train.batch_size
        self.images_per_s: float | None = None  # the last epoch's training images per second

    @property
    def images(self) -> int:
        """Training images per epoch."""
        return len(self.tensors.train_y)

    # ------------------------------------------------------------ checkpoints (checkpoint.py)

    def checkpoint(self) -> bytes:
        return checkpoint.save(
            self.params,
            self.best,
            self.dropout_gen,
            self.shuffle_gen,
            self.position,
            velocity=self.velocity,
            distort_gen=self.distort_gen,
        )

    def restore(self, blob: bytes) -> None:
        self.position = checkpoint.restore(
            blob,
            self.params,
            self.best,
            self.dropout_gen,
            self.shuffle_gen,
            velocity=self.velocity,
            distort_gen=self.distort_gen,
        )

    # ------------------------------------------------------------ training

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[events.Event]:
        spec, p = self.spec, self.position
        self.seam.reset_peak()
        for epoch in range(p.epoch + 1, spec.train.epochs + 1):
            if spec.train.patience and p.since_best >= spec.train.patience:
                break  # early stopping: no new best for `patience` epochs
            if schedule_ended(spec, p):
                break  # η has come down to its floor
            start = time.perf_counter()
            loss = yield from self.train_epoch(epoch, should_stop)  # ends with a host sync (the loss)
            self.images_per_s = self.images / (time.perf_counter() - start)
            yield self.end_epoch(epoch, loss, start)
        yield self.finish()

    def train_epoch(self, epoch: int, should_stop: Callable[[], bool]) -> Iterator[events.Progress]:
        t, bs, n = self.tensors, self.spec.train.batch_size, self.n_batches
        eta = eta_at(self.spec, epoch, self.position.halvings)
        decay = self.spec.train.lmbda / n
        train_x = t.train_x
        if self.distort_gen is not None:  # new distortions every epoch
            train_x = distort.elastic(
                t.train_x, self.spec.train.elastic_alpha, self.spec.train.elastic_sigma, self.distort_gen
            )
        order = None
        if self.spec.train.shuffle:
            order = torch.randperm(len(t.train_y), generator=self.shuffle_gen, device=self.device)
        gen = self.dropout_gen if any(l.dropout for l in self.spec.layers) else None
        total = torch.zeros((), device=self.device)
        every = max(1, n // PROGRESS_STEPS)
        start = time.perf_counter()
        for i in range(n):
            if should_stop():
                raise TrainingStopped
            if order is None:
                x, y = train_x[i * bs : (i + 1) * bs], t.train_y[i * bs : (i + 1) * bs]
            else:
                idx = order[i * bs : (i + 1) * bs]
                x, y = train_x[idx], t.train_y[idx]
            total += sgd_step(
                self.net, self.params, self.weights, x, y, eta, decay, gen, self.velocity, self.spec.train.momentum
            )
            if (i + 1) % every == 0 or i + 1 == n:
                if not torch.isfinite(total):  # one host sync per progress point, PROGRESS_STEPS an epoch
                    raise TrainingDiverged(epoch, i + 1, eta)
                elapsed = time.perf_counter() - start
                rate = (i + 1) * bs / elapsed if elapsed > 0 else 0.0
                yield events.Progress(
                    epoch=epoch,
                    batch=i + 1,
                    batches=n,
                    images_per_s=round(rate, 1),
                    seconds_left=round((n - i - 1) * bs / rate, 1) if rate else None,
                    loss=round(total.item() / (i + 1), 5),
                )  # the epoch's mean loss so far
        return total.item() / n

    def end_epoch(self, epoch: int, train_loss: float, started: float) -> events.Epoch:
        """Evaluate; `started` (perf_counter at the epoch's start) makes `seconds` include evaluation."""
        p, t = self.position, self.tensors
        eta = eta_at(self.spec, epoch, p.halvings)  # the η this epoch trained with
        val, val_loss = evaluate(self.net, t.val_x, t.val_y)
        test = None
        new_best = val >= p.best_val
        if new_best:  # ties count as a new best, as in the book
            test = accuracy(self.net, t.test_x, t.test_y)
            p.best_val, p.best_epoch, p.test_at_best, p.since_best = val, epoch, test, 0
            with torch.no_grad():
                torch._foreach_copy_(self.best, [q.detach() for q in self.params])
        else:
            p.since_best += 1
        schedule_step(self.spec, p, new_best)
        p.epoch = epoch
        filters = self.net.first_filters()
        return events.Epoch(
            epoch=epoch,
            train_loss=train_loss,
            val_acc=val,
            val_loss=val_loss,
            test_acc=test,
            best_val=p.best_val,
            best_epoch=p.best_epoch,
            test_at_best=p.test_at_best,
            seconds=time.perf_counter() - started,
            learning_rate=eta,
            filters=None if filters is None else filters.float().cpu().numpy(),
            checkpoint=self.checkpoint(),
            images_per_s=None if self.images_per_s is None else round(self.images_per_s, 1),
            peak_memory=self.seam.peak_memory(),
        )

    def finish(self) -> events.Finished:
        """Predictions of the best-validation parameters on the test set."""
        with torch.no_grad():
            torch._foreach_copy_(self.params, self.best)
        predictions = predict(self.net, self.tensors.test_x).cpu().numpy().astype(np.uint8)
        p = self.position
        return events.Finished(
            best_val=p.best_val,
            best_epoch=p.best_epoch,
            test_at_best=p.test_at_best,
            epochs_done=p.epoch,
            stopped_early=p.epoch < self.spec.train.epochs,
            predictions=predictions,
        )
