"""Comparisons of stored runs: one row per run, per group of repeats, or per
ensemble vote, with the figures people compare (the book's figure and the
difference, mean ± sd and best-of-N over repeats, time), sorting and the
differences between two configs. Pure functions over the store, shared by
`convlab compare`, the exports and the TUI's compare screen.

Rows follow three rules:
- an ensemble run is one row; its member runs belong to it (their mean ± sd
  and best member are shown beside the vote);
- two or more selected runs of one group (a run with --repeats) are one row:
  its headline test figure is the best-of-N, the test accuracy of the run
  with the best validation accuracy, as the book picked its figures;
- any other run is a row of its own.

Read-only: voting and storing an ensemble live in `convlab.runs.ensemble`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from convlab.config.spec import TRAIN_IMAGES
from convlab.errors import UserError
from convlab.results.stats import best_of, mean_sd
from convlab.store import Run, Store
from convlab.term.format import device_figures, duration, id_ranges, last_rate, pct, swept_header, swept_value


@dataclass
class Row:
    key: str  # stable and unique: "run-7", "group-3", "vote-12"
    kind: str  # "run", "repeats" or "ensemble"
    preset: str
    title: str
    chapter_row: int
    runs: list[Run]  # the training runs the row stands for
    vote: Run | None = None  # the ensemble run, for kind "ensemble"
    best: Run | None = None  # best of the runs by validation accuracy
    test: float | None = None  # the headline: test at best, best-of-N's test, or the vote
    book: float | None = None
    mean: float | None = None  # of the runs' test-at-best (n ≥ 2)
    sd: float | None = None
    sec_per_epoch: float | None = None
    total_seconds: float | None = None
    status: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    swept: dict[str, Any] = field(default_factory=dict)  # a sweep point's fields (convlab sweep)

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def run_ids(self) -> list[int]:
        return [r.id for r in self.runs]

    @property
    def all_ids(self) -> list[int]:
        """Every run the row stands for, the vote included."""
        return self.run_ids + ([self.vote.id] if self.vote else [])

    @property
    def best_val(self) -> float | None:
        return self.best.best_val if self.best else None

    @property
    def epochs(self) -> int | None:
        return self.best.epochs_done if self.best else None

    @property
    def epochs_planned(self) -> int | None:
        return self.runs[0].epochs_planned if self.runs else None

    @property
    def diff(self) -> float | None:
        return None if self.test is None or self.book is None else self.test - self.book

    @property
    def data(self) -> str:
        train = self.config.get("train", {})
        kind = train.get("data", "plain")
        size = train.get("train_limit") or TRAIN_IMAGES[kind]
        return f"{kind} {size:,}"

    @property
    def device(self) -> str:
        return ", ".join(sorted({r.device for r in self.runs if r.device})) or "—"

    @property
    def seed(self) -> int | None:
        return self.runs[0].seed if self.kind == "run" and self.runs else None

    @property
    def tags(self) -> list[str]:
        return sorted({t for r in self.runs + ([self.vote] if self.vote else []) for t in r.tags})

    @property
    def label(self) -> str:
        """A short name for legends: `relu (runs 4–6)`, `ensemble (vote 12)`."""
        if self.kind == "ensemble":
            return f"{self.preset} (vote {self.vote.id})"
        return f"{self.preset} ({'runs' if self.n > 1 else 'run'} {id_ranges(self.run_ids)})"


# ---------------------------------------------------------------- selection


def select(
    store: Store, run_ids: list | None = None, presets: list[str] | None = None, last: int | None = None
) -> list[Row]:
    """The rows for some runs (by id), every run of some presets, or the whole
    store; `last` keeps the newest N rows. Unknown ids or presets are UserErrors."""
    if last is not None and last < 1:
        raise UserError(f"--last {last}: must be at least 1")
    chosen: dict[int, Run] = {}
    for run_id in run_ids or []:
        run = store.run(run_id)
        chosen[run.id] = run
    for preset in presets or []:
        found = store.runs(preset=preset)
        if not found:
            raise UserError(f"no runs of preset {preset!r} in {store.path}; `convlab runs` lists what is there")
        chosen.update((r.id, r) for r in found)
    if not run_ids and not presets:
        chosen = {r.id: r for r in store.runs()}
    rows = rows_of(store, list(chosen.values()))
    if last is not None:
        rows = sorted(rows, key=lambda row: max(row.all_ids), reverse=True)[:last]
    return sort_rows(rows, "row")


def rows_of(store: Store, runs: list[Run]) -> list[Row]:
    """Group runs into rows by the three rules of this module's docstring."""
    runs = sorted(runs, key=lambda r: r.id)
    votes = [r for r in runs if r.kind == "ensemble"]
    in_votes = {m for v in votes for m in v.members}
    rows = [_ensemble_row(store, v) for v in votes]
    groups: dict[int | None, list[Run]] = {}
    for run in runs:
        if run.kind == "train" and run.id not in in_votes:
            groups.setdefault(run.group_id, []).append(run)
    for group_id, members in groups.items():
        if group_id is not None and len(members) > 1:
            rows.append(_row(store, f"group-{group_id}", "repeats", members))
        else:
            rows.extend(_row(store, f"run-{r.id}", "run", [r]) for r in members)
    swept = store.swept_fields()
    for row in rows:
        if row.kind != "ensemble" and row.runs:
            row.swept = swept.get(row.runs[0].group_id, {})
    return rows


def _row(store: Store, key: str, kind: str, runs: list[Run]) -> Row:
    first = runs[0]
    best = best_of(runs)
    ms = mean_sd([r.test_at_best for r in runs]) if len(runs) > 1 else None
    # an ensemble preset's book figure is the vote's, not a member's
    ensemble_members = first.config.get("train", {}).get("ensemble", 1) > 1
    seconds = [e.seconds for r in runs for e in store.epochs(r.id) if e.seconds is not None]
    totals = [r.duration for r in runs if r.duration is not None]
    return Row(
        key=key,
        kind=kind,
        preset=first.preset,
        title=first.title,
        chapter_row=first.config.get("row", 0) or 0,
        runs=runs,
        best=best,
        test=best.test_at_best if best else None,
        book=None if ensemble_members else first.book_figure,
        mean=ms[0] if ms else None,
        sd=ms[1] if ms else None,
        sec_per_epoch=statistics.fmean(seconds) if seconds else None,
        total_seconds=sum(totals) if totals else None,
        status=_status(runs),
        config=first.config,
    )


def _ensemble_row(store: Store, vote: Run) -> Row:
    """The vote's accuracy is the headline; the members give mean ± sd, the
    best member, the epochs and the time (the vote itself takes no time)."""
    members = [store.run(m) for m in vote.members]
    row = (
        _row(store, f"vote-{vote.id}", "ensemble", members)
        if members
        else Row(key=f"vote-{vote.id}", kind="ensemble", preset=vote.preset, title=vote.title, chapter_row=0, runs=[])
    )
    row.vote, row.preset, row.title = vote, vote.preset, vote.title
    row.test, row.book, row.config = vote.test_at_best, vote.book_figure, vote.config
    row.chapter_row = vote.config.get("row", 0) or 0
    if vote.status != "finished":
        row.status = vote.status
    return row


def _status(runs: list[Run]) -> str:
    statuses = [r.status for r in runs]
    if len(set(statuses)) == 1:
        return statuses[0]
    return f"{statuses.count('finished')}/{len(runs)} finished"


def compare(
    store: Store,
    run_ids: list | None = None,
    presets: list[str] | None = None,
    last: int | None = None,
    sort: str = "row",
    reverse: bool = False,
) -> list[Row]:
    """The rows the compare views show, sorted by a column key."""
    return sort_rows(select(store, run_ids, presets, last), sort, reverse)


# ---------------------------------------------------------------- columns and sorting


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    text: Callable[[Row], str]
    value: Callable[[Row], Any]  # what sorting compares; None sorts last


def signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def _runs_text(row: Row) -> str:
    if row.kind == "ensemble":
        return f"{row.vote.id} (vote of {id_ranges(row.run_ids)})" if row.runs else str(row.vote.id)
    return id_ranges(row.run_ids)


def _epochs_text(row: Row) -> str:
    if row.epochs is None:
        return "—"
    done = {r.epochs_done for r in row.runs}
    text = str(row.epochs) if len(done) == 1 else f"{min(done)}–{max(done)}"
    return text if row.status == "finished" else f"{text}/{row.epochs_planned}"


def _n_text(row: Row) -> str:
    return f"{row.n} voting" if row.kind == "ensemble" else str(row.n)


def _mean_sd_text(row: Row) -> str:
    return "—" if row.mean is None else f"{row.mean:.2f} ± {row.sd:.2f}"


def _best_of_text(row: Row) -> str:
    if row.n < 2 or row.best is None:
        return "—"
    return f"{row.best.test_at_best:.2f} (run {row.best.id})"


COLUMNS: list[Column] = [
    Column("row", "#", lambda r: str(r.chapter_row or "—"), lambda r: r.chapter_row or None),
    Column("preset", "preset", lambda r: " ".join([r.preset, *(f"#{t}" for t in r.tags)]), lambda r: r.preset),
    Column("runs", "runs", _runs_text, lambda r: min(r.all_ids)),
    Column("n", "n", _n_text, lambda r: r.n),
    Column("epochs", "epochs", _epochs_text, lambda r: r.epochs),
    Column(
        "data",
        "data",
        lambda r: r.data,
        lambda r: (r.config.get("train", {}).get("data", ""), r.config.get("train", {}).get("train_limit") or 10**9),
    ),
    Column("val", "best val %", lambda r: pct(r.best_val), lambda r: r.best_val),
    Column("test", "test %", lambda r: pct(r.test), lambda r: r.test),
    Column("book", "book %", lambda r: pct(r.book), lambda r: r.book),
    Column("diff", "Δ book", lambda r: signed(r.diff), lambda r: r.diff),
    Column("mean", "mean ± sd", _mean_sd_text, lambda r: r.mean),
    Column("best", "best of N", _best_of_text, lambda r: r.best.test_at_best if r.n > 1 and r.best else None),
    Column(
        "epoch_time",
        "s/epoch",
        lambda r: "—" if r.sec_per_epoch is None else f"{r.sec_per_epoch:.1f}",
        lambda r: r.sec_per_epoch,
    ),
    Column("time", "total", lambda r: duration(r.total_seconds), lambda r: r.total_seconds),
    Column("device", "device", lambda r: r.device, lambda r: r.device),
    Column("status", "status", lambda r: r.status, lambda r: r.status),
]
COLUMN_KEYS = [c.key for c in COLUMNS]
BY_KEY = {c.key: c for c in COLUMNS}


def swept_column(name: str) -> Column:
    """A swept field's column: sweep points of one preset read alike otherwise."""
    return Column(
        f"set:{name}",
        swept_header(name),
        lambda r: swept_value(r.swept[name]) if name in r.swept else "",
        lambda r: r.swept.get(name),
    )


def columns(rows: list[Row]) -> list[Column]:
    """COLUMNS, with a column per field swept in any of the rows after the preset's."""
    names = list(dict.fromkeys(name for row in rows for name in row.swept))
    at = COLUMN_KEYS.index("preset") + 1
    return COLUMNS[:at] + [swept_column(name) for name in names] + COLUMNS[at:]


def cells(row: Row, shown: list[Column] | None = None) -> list[str]:
    return [c.text(row) for c in shown or COLUMNS]


def sort_rows(rows: list[Row], by: str = "row", reverse: bool = False) -> list[Row]:
    """Sorted by a column key; rows without a value go last either way, and
    ties keep the chapter's order, then run ids."""
    if by not in BY_KEY:
        raise UserError(f"--sort {by}: not a column; choose one of {', '.join(COLUMN_KEYS)}")
    value = BY_KEY[by].value
    tie = sorted(rows, key=lambda r: (r.chapter_row or 999, min(r.all_ids)))
    present = [r for r in tie if value(r) is not None]
    missing = [r for r in tie if value(r) is None]
    return sorted(present, key=value, reverse=reverse) + missing


# ---------------------------------------------------------------- config differences

SKIP_IN_DIFF = {"description", "book_note", "source", "title", "row"}  # what describes, not what trains


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{'train': {'eta': 0.03}, 'layers': [{'maps': 20}]} → {'train.eta': 0.03, 'layers[0].maps': 20}."""
    out: dict[str, Any] = {}
    if isinstance(config, dict):
        for k, v in config.items():
            if k not in SKIP_IN_DIFF or prefix:
                out.update(flatten(v, f"{prefix}.{k}" if prefix else k))
    elif isinstance(config, list) and config and isinstance(config[0], dict):
        for i, v in enumerate(config):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = tuple(config) if isinstance(config, list) else config
    return out


def config_diff(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """The fields whose values differ, as (field, a's value, b's value); a field
    one config lacks shows as None."""
    fa, fb = flatten(a), flatten(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    return [(k, fa.get(k), fb.get(k)) for k in keys if fa.get(k) != fb.get(k)]


def row_diff(a: Row, b: Row) -> list[tuple[str, Any, Any]]:
    """Config differences of two rows, with seed, device and size when they differ."""
    diff = config_diff(a.config, b.config)
    for name, va, vb in (("seed", a.seed, b.seed), ("device", a.device, b.device), ("runs", a.n, b.n)):
        if va != vb:
            diff.append((name, va, vb))
    return diff


def device_lines(store: Store, rows: list[Row]) -> list[str]:
    """Each row's device figures in one line (`compare` prints them under its
    table): path, device, torch and CUDA, the largest peak memory and the mean
    images per second of its runs' last epochs. Rows stored without them are left out."""
    lines = []
    for row in rows:
        runs = [r for r in row.runs if r.path or r.device_name]
        if not runs:
            continue
        rates = [rate for rate in (last_rate(store.epochs(r.id)) for r in runs) if rate]
        paths = sorted({r.path for r in runs if r.path})
        peaks = [r.peak_memory for r in runs if r.peak_memory]
        like = replace(runs[0], path="; ".join(paths) or None, peak_memory=max(peaks) if peaks else None)
        lines.append(f"{row.label}: {device_figures(like, statistics.fmean(rates) if rates else None)}")
    return lines


def diff_lines(a: Row, b: Row) -> list[str]:
    diff = row_diff(a, b)
    if not diff:
        return [f"{a.label} and {b.label}: the same config"]
    width = max(len(k) for k, _, _ in diff)
    lines = [f"{'':<{width}}  {a.label}  →  {b.label}"]
    lines += [f"{k:<{width}}  {_show(va)}  →  {_show(vb)}" for k, va, vb in diff]
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return "×".join(map(str, value))
    return str(value)


def runs_of(store: Store, rows: list[Row]) -> list[Run]:
    """Every run the rows stand for, the votes included, each once, by id."""
    seen: dict[int, Run] = {}
    for row in rows:
        for run in row.runs + ([row.vote] if row.vote else []):
            seen.setdefault(run.id, run)
    return [seen[k] for k in sorted(seen)]
