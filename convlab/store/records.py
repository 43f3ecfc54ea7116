"""What the store holds, as Python reads it back: a run, an epoch, a
misclassified digit, and the arrays stored as .npy bytes."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
# numpy is imported where arrays are made, not here: the lab's home screen
# reads the store without any, and numpy is a sixth of its first frame.

STATUSES = ("running", "finished", "failed", "interrupted", "diverged")


def to_npy(array: np.ndarray) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def from_npy(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.load(io.BytesIO(blob), allow_pickle=False)


@dataclass
class Run:
    id: int
    group_id: int | None
    member: int
    kind: str
    preset: str
    title: str
    config: dict[str, Any]
    seed: int | None
    device: str | None
    versions: dict[str, str]
    host: str | None
    pid: int | None
    started: float | None
    ended: float | None
    heartbeat: float | None
    status: str
    epochs_planned: int | None
    epochs_done: int
    best_val: float | None
    best_epoch: int | None
    test_at_best: float | None
    book_figure: float | None
    progress: dict[str, Any] = field(default_factory=dict)
    members: list[int] = field(default_factory=list)
    error: str | None = None
    note: str = ""
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Run:
        """By column name: columns a store adds are ignored, missing ones read as empty."""
        d = dict(row)
        values = {f.name: d.get(f.name) for f in fields(cls)}
        values["config"] = json.loads(values["config"] or "{}")
        values["versions"] = json.loads(values["versions"] or "{}")
        values["progress"] = json.loads(values["progress"] or "{}")
        values["members"] = json.loads(values["members"] or "[]")
        values["note"] = values["note"] or ""
        values["tags"] = (values["tags"] or "").split()
        values["member"] = values["member"] or 0
        values["epochs_done"] = values["epochs_done"] or 0
        values["kind"] = values["kind"] or "train"
        values["title"] = values["title"] or ""
        values["status"] = values["status"] or "failed"
        return cls(**values)

    @property
    def spec(self):
        from convlab.config.spec import spec_from_dict

        return spec_from_dict(self.config)

    @property
    def data(self) -> str:
        return self.config.get("train", {}).get("data", "")

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or self.heartbeat or time.time()) - self.started


@dataclass
class Epoch:
    epoch: int
    train_loss: float | None
    val_acc: float | None
    test_acc: float | None
    seconds: float | None
    eta: float | None  # the epoch's learning rate η
    val_loss: float | None = None  # None for epochs stored before store version 3


@dataclass
class Mistake:
    index: int
    label: int
    predicted: int
    image: np.ndarray  # (28, 28) uint8


def mistakes_of(predictions: np.ndarray, test) -> list[Mistake]:
    """The misclassified digits of a test split (images, labels) under `predictions`."""
    import numpy as np

    wrong = np.flatnonzero(predictions != test.labels)
    return [Mistake(int(i), int(test.labels[i]), int(predictions[i]), test.images[i]) for i in wrong]
