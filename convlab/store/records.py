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

STATUSES = ("running", "finished", "failed", "interrupted", "diverged", "pruned")  # pruned: by its search
UNREADABLE = "unreadable"  # a run whose stored row cannot be read; its error says why


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
    device_name: str | None = None  # the card's or processor's name (store version 5)
    path: str | None = None  # how it trained: eager, batched N, captured (book/graph.py)
    peak_memory: int | None = None  # bytes: CUDA's peak allocation, or the process's peak RSS
    note: str = ""
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Run:
        """By column name: columns a store adds are ignored, missing ones read as empty.
        A row that cannot be read (a hand edit, a disk error inside a page, a future
        version) becomes an unreadable run that keeps its id and says why."""
        d = dict(row)
        try:
            return cls._parse(d)
        except ValueError as exc:
            return cls(**{**_EMPTY, "id": d.get("id"), "preset": _text(d.get("preset")), "error": str(exc)})

    @classmethod
    def _parse(cls, d: dict[str, Any]) -> Run:
        values = {f.name: d.get(f.name) for f in fields(cls)}
        for name, kinds in _COLUMN_TYPES.items():
            value = values.get(name)
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
                raise ValueError(f"{name} holds {_short(value)}, not {kinds[0].__name__}")
        for name, default, kind in (("config", {}, dict), ("versions", {}, dict), ("progress", {}, dict)):
            values[name] = _json(name, values[name], default, kind)
        values["members"] = _json("members", values["members"], [], list)
        if not all(isinstance(m, int) and not isinstance(m, bool) for m in values["members"]):
            raise ValueError("members is not a list of run ids")
        values["note"] = values["note"] or ""
        values["tags"] = (values["tags"] or "").split()
        values["member"] = values["member"] or 0
        values["epochs_done"] = values["epochs_done"] or 0
        values["kind"] = values["kind"] or "train"
        values["title"] = values["title"] or ""
        values["status"] = values["status"] or "failed"
        return cls(**values)

    @property
    def unreadable(self) -> bool:
        return self.status == UNREADABLE

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


# What each column of a run's row must hold when not NULL (SQLite stores any type in any column).
_COLUMN_TYPES = {
    **dict.fromkeys(
        ("id", "group_id", "member", "seed", "pid", "epochs_planned", "epochs_done", "best_epoch", "peak_memory"),
        (int,),
    ),
    **dict.fromkeys(("started", "ended", "heartbeat", "best_val", "test_at_best", "book_figure"), (float, int)),
    **dict.fromkeys(
        ("kind", "preset", "title", "device", "host", "status", "error", "device_name", "path", "note", "tags"),
        (str,),
    ),
    **dict.fromkeys(("config", "versions", "progress", "members"), (str,)),
}
_EMPTY = {
    **{f.name: None for f in fields(Run)},
    **{"member": 0, "kind": "train", "title": "", "config": {}, "versions": {}, "epochs_done": 0},
    **{"status": UNREADABLE, "progress": {}, "members": [], "note": "", "tags": []},
}


def _json(name: str, text: str | None, default, kind: type):
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError(f"{name} is not valid JSON") from None
    if not isinstance(value, kind):
        raise ValueError(f"{name} holds {_short(value)}, not a JSON {'object' if kind is dict else 'list'}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:23] + "…"


def _text(value) -> str:
    return value if isinstance(value, str) else "?"


@dataclass
class Epoch:
    epoch: int
    train_loss: float | None
    val_acc: float | None
    test_acc: float | None
    seconds: float | None
    eta: float | None  # the epoch's learning rate η
    val_loss: float | None = None  # None for epochs stored before store version 3
    images_per_s: float | None = None  # training images per second; None before store version 5


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
