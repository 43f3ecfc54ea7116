"""Sweeps: one preset trained over a grid of field values.

    convlab sweep relu --set train.lmbda=0,0.01,0.1 --set layers[2].n_out=100,300

Each `--set FIELD=V1,V2,…` is an axis; the grid is every combination. Each
point is the preset with those fields changed, validated exactly as a preset
file is (a bad field or value is one line naming it), and becomes a group of
runs in the store (its repeats); the sweep itself is a row of the `sweeps`
table that lists its points and their groups. Every point starts from the
same seed, so the points differ only in the swept fields.

A sweep can also be a TOML file, or the name of one shipped in the package's
sweeps/ (`convlab sweep relu-lambda`, the chapter's λ search):

    preset = "relu"
    repeats = 1
    [set]
    "train.lmbda" = [0, 1e-5, 1e-4]
"""

from __future__ import annotations

import copy
import itertools
import math
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convlab.config import spec as specs
from convlab.config.spec import Spec
from convlab.errors import UserError
from convlab.results.stats import best_of, mean_sd
from convlab.store import Run, Store
from convlab.term.format import swept_value

FILE_KEYS = {"preset", "title", "description", "repeats", "seed", "set"}
MAX_POINTS = 1000  # a grid beyond this is a typo more often than a plan (docs/guide/many-runs.md)


@dataclass(frozen=True)
class Axis:
    field: str  # "train.lmbda", "layers[2].n_out"
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Sweep:
    preset: str  # a preset name or a TOML file
    axes: tuple[Axis, ...]
    repeats: int | None = None  # None: 1, a sweep explores; give more for mean ± sd
    seed: int | None = None


# ---------------------------------------------------------------- reading a sweep


def parse_set(text: str) -> Axis:
    """`train.lmbda=0,0.01,0.1` → Axis; values are TOML values (numbers, true/false, "text")."""
    field, eq, values = text.partition("=")
    field = field.strip()
    if not eq or not field or not values.strip():
        raise UserError(f"--set {text}: give FIELD=V1,V2,… (e.g. train.lmbda=0,0.01,0.1)")
    return Axis(field, tuple(_value(v.strip(), text) for v in values.split(",")))


def _value(text: str, where: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        if text and all(c.isalnum() or c in "-_" for c in text):
            return text  # a bare word, e.g. relu or expanded
        raise UserError(f"--set {where}: {text!r} is not a value; write numbers, true/false or words") from None


def load_file(path: str | Path) -> Sweep:
    """A sweep file: preset, optional repeats and seed, and a [set] table of FIELD = [values]."""
    doc, grid, preset = read_file(Path(path), FILE_KEYS, "set", "sweep", "FIELD = [values]")
    axes = tuple(Axis(k, tuple(v) if isinstance(v, list) else (v,)) for k, v in grid.items())
    return Sweep(preset, axes, *_checked_options(Path(path).name, doc.get("repeats"), doc.get("seed")))


def read_file(path: Path, keys: set[str], table: str, noun: str, entry: str) -> tuple[dict, dict, str]:
    """A sweep or search file (`noun`): its document, its [table] of `entry`s and its
    preset, a preset file named relative to the file's folder; one line for the first problem."""
    doc = specs.read_toml(path)
    unknown = set(doc) - keys
    if unknown:
        raise UserError(f"{path.name}: {sorted(unknown)[0]} is not a {noun} field; known: {', '.join(sorted(keys))}")
    found = doc.get(table)
    if not isinstance(doc.get("preset"), str) or not isinstance(found, dict) or not found:
        raise UserError(f'{path.name}: a {noun} needs preset = "NAME" and a [{table}] table of {entry}')
    preset = doc["preset"]
    if preset.endswith(".toml") and not Path(preset).is_absolute():
        preset = str(path.parent / preset)  # a preset file beside the sweep or search file
    return doc, found, preset


def _checked_options(where: str, repeats: Any, seed: Any) -> tuple[int | None, int | None]:
    """A sweep's repeats and seed, in the ranges `convlab run` applies."""
    if repeats is not None:
        specs.check_option(f"{where}: repeats", "repeats", repeats)
    if seed is not None:
        specs.check_option(f"{where}: seed", "seed", seed)
    return repeats, seed


def sweep_file(name: str) -> Path | None:
    """A sweep file given by path, or by the name of a shipped one; None if `name`
    is not one. A file that cannot be read as TOML is one line naming it."""
    from convlab.config.paths import sweeps_dir

    shipped = sweeps_dir() / f"{name}.toml"
    path = Path(name) if Path(name).suffix == ".toml" else shipped
    try:
        if not path.is_file():
            return None
    except OSError:  # a name too long for a file: the preset's lookup says so
        return None
    return path if "set" in specs.read_toml(path) else None


# ---------------------------------------------------------------- the grid


def points(sweep: Sweep, changes: dict[str, Any] | None = None) -> list[tuple[dict[str, Any], Spec]]:
    """Every combination of the axes' values: (the swept fields, the validated spec).
    `changes` are schedule changes for every point (epochs, train_limit)."""
    if not sweep.axes:
        raise UserError("sweep: give at least one --set FIELD=V1,V2,…")
    for axis in sweep.axes:
        if not axis.values:
            raise UserError(f"--set {axis.field}: give at least one value")
    size = math.prod(len(axis.values) for axis in sweep.axes)
    if size > MAX_POINTS:
        shape = " × ".join(str(len(axis.values)) for axis in sweep.axes)
        raise UserError(f"sweep: a grid of {shape} = {size:,} points is above {MAX_POINTS:,}; give fewer values")
    _checked_options("sweep", sweep.repeats, sweep.seed)
    path, doc = specs.read_preset(sweep.preset)
    repeats = sweep.repeats or 1
    out = []
    for combo in itertools.product(*(axis.values for axis in sweep.axes)):
        fields = dict(zip((axis.field for axis in sweep.axes), combo))
        point = copy.deepcopy(doc)
        for field, value in fields.items():
            _set_field(point, field, value, path.name)
        label = "--set " + ", ".join(f"{f}={v}" for f, v in fields.items())
        spec = specs._Checker(label).spec(point, str(path))
        train = {"repeats": repeats if spec.train.ensemble == 1 else 1, **(changes or {})}
        out.append((fields, spec.with_train(**train)))
    return out


def _set_field(doc: dict, field: str, value: Any, preset: str) -> None:
    """`train.X` or `layers[i].X` in a preset's TOML table."""
    table, dot, key = field.partition(".")
    if not dot or not key or "." in key:
        raise UserError(f"--set {field}: not a field; write train.FIELD or layers[i].FIELD")
    if table == "train":
        train = doc.setdefault("train", {})
        if not isinstance(train, dict):
            raise UserError(f"{preset}: train is not a table; write a [train] table of its fields")
        train[key] = value
        return
    if table.startswith("layers[") and table.endswith("]") and table[7:-1].isdigit():
        layers, i = doc.get("layers", []), int(table[7:-1])
        if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
            raise UserError(f"{preset}: layers is not a list of tables; write each as a [[layers]] table")
        if i >= len(layers):
            raise UserError(f"--set {field}: {preset} has {len(layers)} layers, layers[0] to layers[{len(layers) - 1}]")
        layers[i][key] = value
        return
    raise UserError(f"--set {field}: not a field; write train.FIELD or layers[i].FIELD")


# ---------------------------------------------------------------- running


def start(store: Store, runner, sweep: Sweep, changes: dict[str, Any] | None = None) -> int:
    """Record a new sweep (its points and their groups), held by this process
    (its lock), then train it. A sweep that fails before its first run leaves nothing."""
    grid = points(sweep, changes)
    seed = secrets.randbelow(2**30) if sweep.seed is None else sweep.seed
    sweep_id = store.create_sweep(grid[0][1].name, [[a.field, list(a.values)] for a in sweep.axes], seed)
    plans = []
    try:
        for i, (fields, spec) in enumerate(grid):
            plans.append(runner.open_group(spec, seed=seed))
            store.add_sweep_point(sweep_id, i, fields, plans[-1].group_id)
        runner.train(plans)
        store.finish_sweep(sweep_id)
    finally:
        for plan in plans:
            runner.release_group(plan.group_id)
        store.drop_sweep_if_empty(sweep_id)
        store.release(f"sweep-{sweep_id}")
    return sweep_id


def resume(store: Store, runner, sweep_id: int | str) -> int:
    """Continue a sweep: finished points are kept, the others complete. The
    sweep's lock comes first, so a second resume creates nothing."""
    store.mark_stale()
    record = store.sweep(sweep_id)
    if record.get("search"):  # its next trials are asked by its sampler (search.py)
        raise UserError(f"sweep {record['id']} is a search; continue it with `convlab search --resume {record['id']}`")
    if not store.hold_sweep(record["id"]):
        raise UserError(f"sweep {record['id']} is being trained by another process; wait for it, or stop it")
    plans = []
    try:
        for point in store.sweep_points(record["id"]):
            plan = _reopen_point(store, runner, record, point["group_id"])
            if plan is not None:
                plans.append(plan)
        if not plans:
            raise UserError(f"sweep {record['id']} is already finished; nothing to resume")
        runner.train(plans)
        store.finish_sweep(record["id"])
    finally:
        for plan in plans:
            runner.release_group(plan.group_id)
        store.release(f"sweep-{record['id']}")
    return record["id"]


def _reopen_point(store: Store, runner, record: dict[str, Any], group_id: int):
    """The plan that completes one point's group, held by this process; None when it is done.
    Refused while another process trains the group (a second `sweep --resume`, a `run --resume`)."""
    from convlab.runs.runner import Plan

    if not runner.hold_group(group_id):
        raise UserError(f"sweep {record['id']} is being trained by another process (group {group_id}); wait for it")
    spec = specs.spec_from_dict(store.group(group_id)["config"])
    runs = [r for r in store.group_runs(group_id) if r.kind == "train"]
    if runner.group_done(spec, group_id):
        runner.release_group(group_id)
        return None
    if any(r.status == "running" for r in runs):  # on another host: no lock of ours tells
        runner.release_group(group_id)
        raise UserError(f"sweep {record['id']} is still training (run {runs[0].id}); stop it first")
    return Plan(spec, group_id, record["seed"])


# ---------------------------------------------------------------- tables


@dataclass
class PointRow:
    fields: dict[str, Any]
    runs: list[Run]
    best: Run | None
    mean: float | None
    sd: float | None

    @property
    def test(self) -> float | None:
        return self.best.test_at_best if self.best else None

    @property
    def status(self) -> str:
        if self.runs and all(r.status == "pruned" for r in self.runs):  # a search's trial (search.py)
            return f"pruned at epoch {max(r.epochs_done for r in self.runs)}"
        if self.runs and all(r.status == "diverged" for r in self.runs):  # η too large, say: NaN
            return "diverged"
        done = sum(r.status == "finished" for r in self.runs)
        text = "finished" if self.runs and done == len(self.runs) else f"{done}/{len(self.runs)} finished"
        diverged = sum(r.status == "diverged" for r in self.runs)
        return f"{text}, {diverged} diverged" if diverged else text


def table(store: Store, sweep_id: int | str) -> tuple[dict[str, Any], list[PointRow]]:
    """The sweep's record and one row per point: best of N by validation, mean ± sd."""
    record = store.sweep(sweep_id)
    rows = []
    for point in store.sweep_points(record["id"]):
        runs = [r for r in store.group_runs(point["group_id"]) if r.kind == "train"]
        ms = mean_sd([r.test_at_best for r in runs])
        rows.append(PointRow(point["fields"], runs, best_of(runs), *(ms or (None, None))))
    return record, rows


def pivot(rows: list[PointRow], field: str) -> list[PointRow]:
    """One row per value of `field`, over every point and repeat with that value:
    the best run by validation (its test %) and the mean ± sd of test %."""
    if rows and field not in rows[0].fields:
        raise UserError(f"--pivot {field}: not a swept field; swept: {', '.join(rows[0].fields)}")
    out: dict[Any, list[Run]] = {}
    for row in rows:
        out.setdefault(row.fields[field], []).extend(row.runs)
    result = []
    for value, runs in out.items():
        ms = mean_sd([r.test_at_best for r in runs])
        result.append(PointRow({field: value}, runs, best_of(runs), *(ms or (None, None))))
    return result


def cells(rows: list[PointRow]) -> tuple[list[str], list[list[str]]]:
    """The header and text cells of a sweep table (swept fields first)."""
    from convlab.term.format import pct

    fields = list(rows[0].fields) if rows else []
    header = fields + ["runs", "n", "best val %", "test % (best of n)", "mean ± sd", "status"]
    body = [
        [_show(row.fields[f]) for f in fields]
        + [
            ", ".join(str(r.id) for r in row.runs) or "—",
            str(len(row.runs)),
            pct(row.best.best_val if row.best else None),
            pct(row.test),
            "—" if row.mean is None else f"{row.mean:.2f} ± {row.sd:.2f}",
            row.status,
        ]
        for row in rows
    ]
    return header, body


def records(rows: list[PointRow]) -> list[dict[str, Any]]:
    """Rows as plain dicts (json, csv): the swept fields, then the figures."""
    return [
        {
            **row.fields,
            "runs": [r.id for r in row.runs],
            "n": len(row.runs),
            "best_run": row.best.id if row.best else None,
            "best_val": row.best.best_val if row.best else None,
            "test_at_best": row.test,
            "test_mean": row.mean,
            "test_sd": row.sd,
            "status": row.status,
        }
        for row in rows
    ]


def curve_series(store: Store, rows: list[PointRow]) -> list[tuple[str, list[tuple[int, float]]]]:
    """Each point's best run's validation accuracy per epoch, labelled by its fields."""
    series = []
    for row in rows:
        if row.best is not None:
            label = ", ".join(f"{k}={_show(v)}" for k, v in row.fields.items())
            series.append((label, [(e.epoch, e.val_acc) for e in store.epochs(row.best.id) if e.val_acc is not None]))
    return series


_show = swept_value
