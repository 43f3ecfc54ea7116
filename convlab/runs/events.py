"""The events of a training run, defined once. The engine yields `Progress`,
`Epoch` and `Finished`; the runner adds the others and the run id; the CLI
prints them (text, or one JSON object per line with `--json`, via `to_dict`);
the lab reads those JSON lines back.

Every JSON line carries `event` (the kind), `protocol` (PROTOCOL, raised when a
field changes meaning) and `time` (Unix seconds when the event was made).
Fields renamed in protocol 1 are written under their old names too, for one
version (ALIASES): `eta` (the epoch's learning rate, now `learning_rate`) and
`eta_s` (seconds left in the epoch, now `seconds_left`).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

PROTOCOL = 1
ALIASES = {"learning_rate": "eta", "seconds_left": "eta_s"}  # new name → old name, written until protocol 2


@dataclass(kw_only=True)
class Event:
    kind: ClassVar[str]
    BULK: ClassVar[frozenset[str]] = frozenset()  # large fields the JSON stream leaves out
    time: float = field(default_factory=_time.time)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.kind, "protocol": PROTOCOL}
        for f in fields(self):
            if f.name not in self.BULK:
                out[f.name] = getattr(self, f.name)
        for new, old in ALIASES.items():
            if new in out:
                out[old] = out[new]
        return out


@dataclass(kw_only=True)
class Group(Event):
    """A group of runs begins: `members` runs of `preset` (repeats, or an ensemble's members)."""

    kind: ClassVar[str] = "group"
    group: int
    preset: str
    members: int
    ensemble: int  # members that vote (1: repeats, or a single run)
    device: str


@dataclass(kw_only=True)
class Started(Event):
    kind: ClassVar[str] = "started"
    run: int
    group: int
    member: int  # 0-based index in the group
    preset: str
    seed: int
    device: str
    epochs: int  # planned
    batches: int  # mini-batches per epoch
    images: int  # training images per epoch
    resumed_from: int | None  # the last finished epoch when resumed, else None
    path: str = "eager"  # how it trains: eager, batched N, captured (book/graph.py, book/stacked.py)
    device_name: str | None = None  # the card's or processor's name


@dataclass(kw_only=True)
class Progress(Event):
    """Within an epoch, about PROGRESS_STEPS times per epoch."""

    kind: ClassVar[str] = "progress"
    epoch: int
    batch: int  # mini-batches done in this epoch
    batches: int
    images_per_s: float
    seconds_left: float | None  # in this epoch (formerly eta_s)
    loss: float | None = None  # the epoch's mean training loss so far
    run: int | None = None


@dataclass(kw_only=True)
class Epoch(Event):
    """An epoch ended; accuracies in percent."""

    kind: ClassVar[str] = "epoch"
    BULK: ClassVar[frozenset[str]] = frozenset({"filters", "checkpoint"})
    epoch: int
    train_loss: float
    val_acc: float
    test_acc: float | None  # measured only on a new best validation accuracy
    best_val: float
    best_epoch: int
    test_at_best: float
    seconds: float  # the epoch's training and evaluation time
    learning_rate: float  # η of this epoch (formerly eta)
    # mean negative log-likelihood over the validation set (the cost without the L2 term);
    # None only from a producer that predates it
    val_loss: float | None = None
    filters: np.ndarray | None = None  # first layer's filters, for the store
    checkpoint: bytes | None = None  # the trainer's state, for the store
    run: int | None = None
    images_per_s: float | None = None  # training images per second over the epoch (evaluation not counted)
    peak_memory: int | None = None  # bytes: the device's peak allocation on CUDA, the process's peak RSS elsewhere


@dataclass(kw_only=True)
class Finished(Event):
    kind: ClassVar[str] = "finished"
    BULK: ClassVar[frozenset[str]] = frozenset({"predictions"})
    best_val: float
    best_epoch: int
    test_at_best: float
    epochs_done: int
    stopped_early: bool  # patience ended it before the planned epochs
    predictions: np.ndarray | None = None  # test-set predictions of the best epoch's parameters
    run: int | None = None
    mistakes: int | None = None  # test digits wrong


@dataclass(kw_only=True)
class Ensemble(Event):
    """An ensemble's vote, stored as a run of its own."""

    kind: ClassVar[str] = "ensemble"
    run: int
    members: list[int]  # run ids
    accuracy: float  # test accuracy of the vote, percent
    mistakes: int


@dataclass(kw_only=True)
class Summary(Event):
    """The group's result beside the book's figure; the last event of a group."""

    kind: ClassVar[str] = "summary"
    preset: str
    group: int
    runs: list[int]
    book_figure: float | None
    best_run: int | None  # the run with the best validation accuracy (best of N)
    best_val: float | None
    test_at_best: float | None  # best_run's test accuracy at its best validation epoch
    test_mean: float | None  # over the runs' test_at_best
    test_sd: float | None  # sample standard deviation (n − 1); 0 for one run
    ensemble_run: int | None
    ensemble_accuracy: float | None


@dataclass(kw_only=True)
class RunWarning(Event):
    """Something went wrong that the run survived, in one line (a device path that
    failed, and the path it continues on)."""

    kind: ClassVar[str] = "warning"
    run: int
    message: str


@dataclass(kw_only=True)
class Interrupted(Event):
    kind: ClassVar[str] = "interrupted"
    run: int
    group: int


@dataclass(kw_only=True)
class Pruned(Event):
    """Its search's pruner stopped the run at the end of `epoch` (convlab/runs/search.py)."""

    kind: ClassVar[str] = "pruned"
    run: int
    group: int
    epoch: int


@dataclass(kw_only=True)
class Diverged(Event):
    """The training loss became NaN or infinite: the run stopped, stored as 'diverged'."""

    kind: ClassVar[str] = "diverged"
    run: int
    epoch: int
    batch: int  # mini-batches done when it was seen (checked at progress points)
    error: str  # the reason and a hint


@dataclass(kw_only=True)
class Failed(Event):
    kind: ClassVar[str] = "failed"
    run: int
    error: str  # "ExceptionType: message"
