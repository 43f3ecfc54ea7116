"""The run store for notebooks and scripts: runs, configs, epochs, filters,
predictions, mistakes and comparison rows as plain records (dicts of numbers
and strings), or as pandas DataFrames with `frame=True` (pip install
'nndl-convlab[pandas]').

    from convlab import api
    store = api.open_store("convlab.sqlite")
    api.runs(store, frame=True)                  # one row per run, hyper-parameters as columns
    api.runs(store, where={"eta": 0.03, "test_at_best >=": 99}, order_by="-test_at_best", limit=5)
    run = api.open_run(store, 7)                 # a run: .params, .metrics, .history(), .network()
    api.epochs(store, frame=True).pivot_table(index="epoch", columns="eta", values="val_acc")
    net = api.network(store, 7)                  # run 7's trained network, a torch.nn.Module
    net(x).argmax(1)                             # x: (N, 1, 28, 28) in [0, 1]; net.spec is its spec

Every function takes a Store, a path, or None (CONVLAB_STORE, else the default
store). The CSV and JSON exports are written from these same records, so the
names match: `run` is a run's id everywhere, times are ISO 8601, accuracies
are percentages.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from convlab.errors import UserError
from convlab.store import Run, Store

__all__ = [
    "StoredRun",
    "comparison",
    "config",
    "epochs",
    "filters",
    "filters_by_epoch",
    "hparams",
    "load_model",
    "mistakes",
    "network",
    "open_run",
    "open_store",
    "predictions",
    "run",
    "runs",
    "to_frame",
]

# The hyper-parameters a sweep varies, as columns of runs() and epochs().
HPARAMS = ("eta", "lmbda", "activation", "dropout", "batch_size", "data", "train_size")
PLAIN_SIZE, EXPANDED_SIZE = 50_000, 250_000
# Columns that hold whole numbers (nullable: a vote has no seed, no epochs).
INTEGER_COLUMNS = {
    "run",
    "group",
    "member",
    "seed",
    "epochs_planned",
    "epochs_done",
    "best_epoch",
    "peak_memory",
    "epoch",
    "batch_size",
    "train_size",
    "chapter_row",
    "best_run",
    "vote",
    "n",
    "index",
    "label",
    "predicted",
}
# Decimals kept: accuracies are exact in hundredths of 10,000 digits.
ROUNDING = {
    "val_acc": 2,
    "test_acc": 2,
    "best_val": 2,
    "test_at_best": 2,
    "book_figure": 2,
    "test": 2,
    "book": 2,
    "diff": 2,
    "mean": 3,
    "sd": 3,
    "train_loss": 6,
    "val_loss": 6,
    "seconds": 3,
    "sec_per_epoch": 3,
    "total_seconds": 1,
}


def open_store(store: Store | str | os.PathLike | None = None) -> Store:
    return store if isinstance(store, Store) else Store(store)


# ---------------------------------------------------------------- records


def iso(ts: float | None) -> str | None:
    """A stored time (seconds since the epoch) as ISO 8601 in local time with its offset."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).astimezone().isoformat(timespec="seconds")


def rounded(record: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, ROUNDING[k]) if k in ROUNDING and isinstance(v, float) else v for k, v in record.items()}


def hparams(config: dict[str, Any]) -> dict[str, Any]:
    """η, λ, activation, dropout, mini-batch, data and the number of training
    images, from a stored config."""
    train = config.get("train", {})
    hidden = [layer for layer in config.get("layers", []) if layer.get("type") != "softmax"]
    activations = list(dict.fromkeys(layer.get("activation") for layer in hidden))
    data = train.get("data", "plain")
    return {
        "eta": train.get("eta"),
        "lmbda": train.get("lmbda"),
        "activation": "/".join(activations) or None,
        "dropout": max((layer.get("dropout", 0.0) for layer in config.get("layers", [])), default=0.0),
        "batch_size": train.get("batch_size"),
        "data": data,
        "train_size": train.get("train_limit") or (EXPANDED_SIZE if data == "expanded" else PLAIN_SIZE),
    }


def run_record(run: Run) -> dict[str, Any]:
    """One run as a flat record: who, what, the result, the hyper-parameters."""
    return rounded(
        {
            "run": run.id,
            "group": run.group_id,
            "member": run.member,
            "kind": run.kind,
            "preset": run.preset,
            "title": run.title,
            "status": run.status,
            "seed": run.seed,
            "device": run.device,
            "device_name": run.device_name,
            "path": run.path,
            "peak_memory": run.peak_memory,
            "members": list(run.members),
            "started": iso(run.started),
            "ended": iso(run.ended),
            "epochs_planned": run.epochs_planned,
            "epochs_done": run.epochs_done,
            "best_val": run.best_val,
            "best_epoch": run.best_epoch,
            "test_at_best": run.test_at_best,
            "book_figure": run.book_figure,
            **hparams(run.config),
            "tags": list(run.tags),
            "note": run.note,
        }
    )


def runs(
    store=None,
    *,
    preset: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    where: dict[str, Any] | Callable[[dict[str, Any]], bool] | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    frame: bool = False,
):
    """Every run, oldest first (or those of a preset, status or tag), as records.

    Args:
        where: conditions on a record's columns, all of which must hold: `{"eta": 0.03}`
            (equal), `{"eta": [0.01, 0.03]}` (one of), `{"test_at_best >=": 99}` (also
            `>`, `<`, `<=`, `!=`); a missing value (None) meets no comparison. Or a
            function of the record, true for the runs to keep.
        order_by: a column, ascending; `-column` descending. Runs without a value go last.
        limit: at most this many runs, after ordering.
        frame: a pandas DataFrame instead of records.
    """
    store = open_store(store)
    records = [run_record(r) for r in reversed(store.runs(preset=preset, status=status, tag=tag))]
    records = _limited(_ordered(_matching(records, where), order_by), limit)
    return to_frame(records) if frame else records


# `column op`: the comparisons `where` takes, longest first so ">=" is not read as ">"
COMPARISONS = {">=": operator.ge, "<=": operator.le, "!=": operator.ne, ">": operator.gt, "<": operator.lt}


def _matching(records: list[dict[str, Any]], where) -> list[dict[str, Any]]:
    if where is None:
        return records
    if callable(where):
        return [r for r in records if where(r)]
    tests = [_test(key, wanted, records) for key, wanted in where.items()]
    return [r for r in records if all(test(r) for test in tests)]


def _test(key: str, wanted: Any, records: list[dict[str, Any]]) -> Callable[[dict[str, Any]], bool]:
    """One condition of `where` as a test of a record."""
    column, compare = key.strip(), None
    for symbol, function in COMPARISONS.items():
        if column.endswith(symbol):
            column, compare = column.removesuffix(symbol).strip(), function
            break
    _check_column(column, records, "where")
    if compare is not None:

        def compared(r: dict[str, Any]) -> bool:
            try:
                return r[column] is not None and wanted is not None and compare(r[column], wanted)
            except TypeError:
                raise UserError(f"where {key!r}: {r[column]!r} and {wanted!r} cannot be compared") from None

        return compared
    if isinstance(wanted, list | tuple | set | frozenset):
        return lambda r: r[column] in wanted
    return lambda r: r[column] == wanted


def _check_column(column: str, records: list[dict[str, Any]], option: str) -> None:
    if records and column not in records[0]:
        raise UserError(f"{option} {column!r}: not a column of a run; columns: {', '.join(records[0])}")


def _ordered(records: list[dict[str, Any]], order_by: str | None) -> list[dict[str, Any]]:
    if not order_by:
        return records
    column, descending = order_by.removeprefix("-"), order_by.startswith("-")
    _check_column(column, records, "order_by")
    present = [r for r in records if r[column] is not None]
    missing = [r for r in records if r[column] is None]
    return sorted(present, key=lambda r: r[column], reverse=descending) + missing  # stable: ties stay by id


def _limited(records: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    if limit is None:
        return records
    if not isinstance(limit, int) or limit < 1:
        raise UserError(f"limit {limit!r}: give a whole number of runs, at least 1")
    return records[:limit]


def run(store, run_id: int) -> dict[str, Any]:
    """One run's record with its full config and library versions."""
    r = open_store(store).run(run_id)
    return {**run_record(r), "config": r.config, "versions": r.versions}


def config(store, run_id: int) -> dict[str, Any]:
    """A run's config as stored: the preset's fields after any changes it was launched with."""
    return open_store(store).run(run_id).config


# The figures a run ended with (StoredRun.metrics)
METRICS = ("best_val", "best_epoch", "test_at_best", "book_figure", "epochs_done")


@dataclass(frozen=True)
class StoredRun:
    """One run with its history, as W&B's `Api().run` or MLflow's `get_run` give
    one: its record, config and library versions, and methods for the rest."""

    store: Store
    id: int
    record: dict[str, Any]
    config: dict[str, Any]
    versions: dict[str, str]

    @property
    def params(self) -> dict[str, Any]:
        """The hyper-parameters: η, λ, activation, dropout, mini-batch, data, training images."""
        return hparams(self.config)

    @property
    def metrics(self) -> dict[str, Any]:
        """The result: best validation accuracy and its epoch, the test accuracy there, the book's figure."""
        return {k: self.record[k] for k in METRICS}

    def history(self, *, frame: bool = False):
        """One record per epoch: loss, validation and test accuracy, seconds, images/s and η."""
        fields = ("run", *EPOCH_FIELDS, "eta")
        rows = [{k: line[k] for k in fields} for line in epochs(self.store, [self.id]) if line["epoch"] is not None]
        return to_frame(rows) if frame else rows

    def filters(self, epoch: int | None = None) -> np.ndarray | None:
        return filters(self.store, self.id, epoch)

    def predictions(self) -> np.ndarray | None:
        return predictions(self.store, self.id)

    def mistakes(self, *, images: bool = False, frame: bool = False):
        return mistakes(self.store, self.id, images=images, frame=frame)

    def network(self):
        """The trained network (torch); see `network`."""
        return network(self.store, self.id)


def open_run(store, run_id: int) -> StoredRun:
    """One run as an object: `.record`, `.config`, `.params`, `.metrics`, `.history()`, `.network()`."""
    store = open_store(store)
    r = store.run(run_id)
    return StoredRun(store, r.id, run_record(r), r.config, r.versions)


# val_loss: the validation set's mean NLL (empty for epochs stored before store version 3)
EPOCH_FIELDS = ("epoch", "train_loss", "val_acc", "val_loss", "test_acc", "seconds", "images_per_s")


def epochs(store=None, run_ids: list[int] | None = None, *, frame: bool = False):
    """One record per run and epoch, each with its run's columns, so a sweep
    pivots (by eta, lmbda, …). `eta` is the epoch's η (it differs from the
    config's only under eta_decay). A run with no epochs (a vote) gets one
    record without epoch figures."""
    store = open_store(store)
    chosen = [store.run(r) for r in run_ids] if run_ids is not None else list(reversed(store.runs()))
    return epoch_records(store, chosen, frame=frame)


def epoch_records(store: Store, chosen: list[Run], *, frame: bool = False):
    out = []
    for r in chosen:
        base = run_record(r)
        rows = store.epochs(r.id)
        out += [
            rounded(
                {**base, **{k: getattr(e, k) for k in EPOCH_FIELDS}, "eta": e.eta if e.eta is not None else base["eta"]}
            )
            for e in rows
        ]
        if not rows:
            out.append({**base, **dict.fromkeys(EPOCH_FIELDS)})
    return to_frame(out) if frame else out


def filters(store, run_id: int, epoch: int | None = None) -> np.ndarray | None:
    """The first layer's filters (maps, 5, 5) after `epoch` (default: the last)."""
    return open_store(store).filters(run_id, epoch)


def filters_by_epoch(store, run_id: int) -> dict[int, np.ndarray]:
    store = open_store(store)
    found = ((e.epoch, store.filters(run_id, e.epoch)) for e in store.epochs(run_id))
    return {epoch: f for epoch, f in found if f is not None}


def predictions(store, run_id: int) -> np.ndarray | None:
    """The run's predicted label for each of the 10,000 test digits."""
    return open_store(store).predictions(run_id)


def mistakes(store, run_id: int, *, images: bool = False, frame: bool = False):
    """The misclassified test digits: index, label, predicted (and the 28×28 image)."""
    records = [
        {"index": m.index, "label": m.label, "predicted": m.predicted, **({"image": m.image} if images else {})}
        for m in open_store(store).mistakes(run_id)
    ]
    return to_frame(records) if frame else records


def comparison(
    store=None,
    run_ids: list | None = None,
    presets: list[str] | None = None,
    last: int | None = None,
    sort: str = "row",
    reverse: bool = False,
    *,
    frame: bool = False,
):
    """The rows `convlab compare` shows: per run, group of repeats or vote."""
    from convlab.results import report

    rows = report.compare(open_store(store), run_ids, presets, last, sort, reverse)
    records = [row_record(r) for r in rows]
    return to_frame(records) if frame else records


def row_record(row) -> dict[str, Any]:
    return rounded(
        {
            "key": row.key,
            "kind": row.kind,
            "preset": row.preset,
            "title": row.title,
            "chapter_row": row.chapter_row or None,
            "runs": row.run_ids,
            "vote": row.vote.id if row.vote else None,
            "best_run": row.best.id if row.best else None,
            "n": row.n,
            "epochs": row.epochs,
            "data": row.data,
            "best_val": row.best_val,
            "test": row.test,
            "book": row.book,
            "diff": row.diff,
            "mean": row.mean,
            "sd": row.sd,
            "sec_per_epoch": row.sec_per_epoch,
            "total_seconds": row.total_seconds,
            "device": row.device,
            "status": row.status,
            "tags": row.tags,
            **hparams(row.config),
        }
    )


# ---------------------------------------------------------------- trained networks (torch, imported here only)


def network(store, run_id: int):
    """A finished run's best-validation network: the engine's `Network`, a
    torch.nn.Module in evaluation mode on the CPU, taking (N, 1, 28, 28) images
    in [0, 1] and giving the ten logits; `.spec` is its spec. A vote gives its
    members' networks as a list."""
    from convlab.inspect import trained

    nets = []
    for t in trained.load(open_store(store), run_id):
        t.net.spec = t.spec
        nets.append(t.net)
    return nets if open_store(store).run(run_id).kind == "ensemble" else nets[0]


def load_model(path: str | os.PathLike):
    """A network written by `convlab export-model` (no store needed), with `.spec` and `.meta`."""
    from convlab.inspect.trained import load_model as load

    return load(path)


# ---------------------------------------------------------------- DataFrames


def to_frame(records: list[dict[str, Any]]):
    """Records → a pandas DataFrame; whole-number columns stay integers
    (nullable Int64 where a value is missing), times become timestamps."""
    from convlab.extras import require

    pd = require("pandas", "pandas", "a DataFrame")
    df = pd.DataFrame.from_records(records)
    for column in df.columns:
        if column in INTEGER_COLUMNS:
            df[column] = df[column].astype("Int64")
        elif column in ("started", "ended"):
            df[column] = pd.to_datetime(df[column], utc=True)
    return df
