"""Results as data: one small JSON file per finished run (and per ensemble
vote), written from the store by `convlab export --format records -o DIR`,
and the book-against-convlab table generated from a folder of them.

The files are what a reproduction keeps in the repository: they outlive the
store they came from, and the docs' table is made from them alone. A run's
file is named by its preset and seed (and its schedule, when shortened), so
exporting again after more runs finish adds files and rewrites the same ones.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import socket
from pathlib import Path
from typing import Any

from convlab.errors import UserError
from convlab.results.stats import mean_sd
from convlab.store import Run, Store
from convlab.term.format import duration
from convlab.term.text import safe_file_name

FORMAT = 1  # the files' own version, for readers of an older folder
TABLE = "TABLE.md"  # the folder's table, rewritten with every export
TEST_DIGITS = 10_000


# ---------------------------------------------------------------- writing


def write(store: Store, runs: list[Run], folder: str | os.PathLike) -> list[Path]:
    """A file for each finished run or vote among `runs`, then the folder's
    table from every file in it; returns the files written."""
    root = Path(folder)
    done = [r for r in runs if r.status == "finished" and r.test_at_best is not None]
    if not done:
        raise UserError(f"nothing to export as records: none of the selected runs in {store.path} has finished")
    written = [_write_one(root, record_of(store, r)) for r in done]
    (root / TABLE).write_text(markdown(load(root)), encoding="utf-8")
    return written


def _write_one(root: Path, record: dict[str, Any]) -> Path:
    path = root / safe_file_name(record["preset"]) / file_name(record)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"-o {root}: cannot write {path.name} ({exc.strerror or exc}); choose another folder") from None
    return path


def file_name(record: dict[str, Any]) -> str:
    """seed-3.json; vote-seeds-1-5.json; with -epochs-N / -first-N when the schedule was shortened."""
    if record["kind"] == "vote":
        seeds = record["member_seeds"]
        stem = f"vote-seeds-{min(seeds)}-{max(seeds)}" if seeds else f"vote-{record['run']}"
    else:
        stem = f"seed-{record['seed']}"
    if record["epochs_planned"] != record["preset_epochs"]:
        stem += f"-epochs-{record['epochs_planned']}"
    if record["train_limit"]:
        stem += f"-first-{record['train_limit']}"
    return stem + ".json"


def record_of(store: Store, run: Run) -> dict[str, Any]:
    """What a reader needs to set this run beside the book, and no more."""
    train = run.config.get("train", {})
    base = {
        "format": FORMAT,
        "preset": run.preset,
        "title": run.title,
        "book_figure": run.book_figure,
        # a preset beyond the book: the published figure it is set against (its own section of the table)
        "anchor_figure": run.config.get("anchor_figure"),
        "anchor_source": run.config.get("anchor_source", ""),
        "data": train.get("data", "plain"),
        "train_limit": train.get("train_limit"),
        "preset_epochs": _preset_epochs(run),
        "epochs_planned": run.epochs_planned,
        "test_at_best": _hundredths(run.test_at_best),
        "digits_wrong": _digits_wrong(store, run),
        "convlab": run.versions.get("convlab"),
        "torch": run.versions.get("torch"),
        "machine": _machine(run),
        "run": run.id,
    }
    if run.kind == "ensemble":
        members = [store.run(m) for m in run.members]
        return {
            **base,
            "kind": "vote",
            "torch": members[0].versions.get("torch") if members else None,
            "member_seeds": sorted(m.seed for m in members if m.seed is not None),
            "member_tests": [_hundredths(m.test_at_best) for m in members],
            # the whole ensemble's time: its members' epochs, one after another
            "wall_seconds": round(sum(_seconds(store.epochs(m.id)) for m in members), 1) or None,
        }
    epochs = store.epochs(run.id)  # read once: the rows carry each epoch's filters
    train_seconds = _seconds(epochs)
    images = _train_images(train) * len(epochs)
    return {
        **base,
        "kind": "run",
        "seed": run.seed,
        "epochs": run.epochs_done,
        "best_epoch": run.best_epoch,
        "best_validation": _hundredths(run.best_val),
        # the wall time of its epochs: time queued, or stopped between resumes, is not the run's
        "wall_seconds": round(train_seconds, 1) if train_seconds else None,
        "images_per_s": round(images / train_seconds, 1) if train_seconds else None,
        "device": run.device,
    }


def _seconds(epochs: list) -> float:
    return sum(e.seconds or 0.0 for e in epochs)


def _hundredths(percent: float | None) -> float | None:
    """Accuracy on 10,000 digits is a whole number of hundredths; the float's tail is noise."""
    return None if percent is None else round(percent, 2)


def _preset_epochs(run: Run) -> int | None:
    """The preset's own schedule, to tell a shortened run from a full one."""
    spec = _presets_by_name().get(run.preset)
    return spec.train.epochs if spec else run.epochs_planned


def _train_images(train: dict[str, Any]) -> int:
    from convlab.config.spec import TRAIN_IMAGES

    full = TRAIN_IMAGES.get(train.get("data", "plain"), 50_000)
    return min(full, train.get("train_limit") or full)


def _digits_wrong(store: Store, run: Run) -> int:
    predictions = store.predictions(run.id)
    if predictions is not None:
        return len(store.mistakes(run.id))
    return round((100.0 - run.test_at_best) * TEST_DIGITS / 100.0)


def _machine(run: Run) -> str | None:
    """The machine a run trained on, where the store knows it or where the
    export runs on that same host; None otherwise (never a guess)."""
    if run.versions.get("machine"):
        return run.versions["machine"]
    if run.host != socket.gethostname():
        return None
    return f"{_cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ---------------------------------------------------------------- reading


def load(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record under `folder` (one level of preset folders)."""
    records = []
    for path in sorted(Path(folder).glob("*/*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not a convlab record ({exc}); remove it or export it again") from None
    return records


def _full(record: dict[str, Any]) -> bool:
    return not record["train_limit"] and record["epochs_planned"] == record["preset_epochs"]


# ---------------------------------------------------------------- the table


def markdown(records: list[dict[str, Any]]) -> str:
    """The book against convlab: a row for every chapter preset with a book
    figure (in the chapter's order) and for any other preset with full-schedule
    records. Best of N by validation (as the book chose its figure), mean ± sd,
    the time a run took; a vote's row gives its accuracy and digits wrong."""
    full = [r for r in records if _full(r) and r.get("anchor_figure") is None]
    beyond = [r for r in records if _full(r) and r.get("anchor_figure") is not None]
    lines = [
        "| preset | book | convlab, best of N | mean ± sd | N | digits wrong | time a run | images/s | torch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for preset, book in _presets(full):
        runs = [r for r in full if r["preset"] == preset and r["kind"] == "run"]
        votes = [r for r in full if r["preset"] == preset and r["kind"] == "vote"]
        if runs:
            lines.append(_runs_line(preset, runs, members=preset == "ensemble"))
        if preset == "ensemble" and runs and not votes:  # the book's figure is the vote's: say what it awaits
            wanted = _presets_by_name()[preset].train.ensemble
            lines.append(
                f"| `{preset}`: the vote | {_pct(book)} | no vote yet: {len(runs)} of {wanted} members | | | | | | |"
            )
        elif not runs and not votes:
            lines.append(f"| `{preset}` | {_pct(book)} | not run as data yet | | | | | | |")
        lines.extend(_vote_line(preset, v) for v in votes)
    if beyond:
        lines += ["", *_beyond_table(beyond)]
    return "\n".join(lines) + "\n"


def _beyond_table(records: list[dict[str, Any]]) -> list[str]:
    """Presets beyond the book, each against its published anchor, never among the book's rows."""
    lines = [
        "Beyond the book (not the chapter's experiments; each set against its published anchor):",
        "",
        "| preset | anchor | anchor's source | convlab, best of N | mean ± sd | N | digits wrong | time a run |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for preset in sorted({r["preset"] for r in records}):
        runs = [r for r in records if r["preset"] == preset and r["kind"] == "run"]
        if not runs:
            continue
        best = max(runs, key=lambda r: (r["best_validation"], -r["run"]))
        walls = [r["wall_seconds"] for r in runs if r["wall_seconds"]]
        wall = duration(sum(walls) / len(walls)) if walls else "—"
        lines.append(
            f"| `{preset}` | {_pct(runs[0]['anchor_figure'])} | {runs[0]['anchor_source']} "
            f"| {_pct(best['test_at_best'])} | {_mean_sd(runs)} | {len(runs)} | {best['digits_wrong']} | {wall} |"
        )
    return lines


def _presets(records: list[dict[str, Any]]) -> list[tuple[str, float | None]]:
    """(name, book figure): the chapter's presets that have one, then the
    presets of the records, in the chapter's order."""
    chapter = {s.name: (s.row, s.book_figure) for s in _presets_by_name().values() if s.row}
    found = {r["preset"]: (chapter.get(r["preset"], (99, None))[0], r["book_figure"]) for r in records}
    shown = {name: v for name, v in chapter.items() if v[1] is not None} | found
    return [(name, book) for name, (_, book) in sorted(shown.items(), key=lambda kv: (kv[1][0], kv[0]))]


def _runs_line(preset: str, runs: list[dict[str, Any]], members: bool) -> str:
    best = max(runs, key=lambda r: (r["best_validation"], -r["run"]))
    walls = [r["wall_seconds"] for r in runs if r["wall_seconds"]]
    rates = [r["images_per_s"] for r in runs if r["images_per_s"]]
    # an ensemble's members are single dropout networks: their book figure is the dropout preset's
    name = f"`{preset}` members (single networks)" if members else f"`{preset}`"
    book = _book_of("dropout") if members else runs[0]["book_figure"]
    wall = duration(sum(walls) / len(walls)) if walls else "—"
    rate = f"{sum(rates) / len(rates):,.0f}" if rates else "—"
    return (
        f"| {name} | {_pct(book)} | {_pct(best['test_at_best'])} | {_mean_sd(runs)} | {len(runs)} "
        f"| {best['digits_wrong']} | {wall} | {rate} | {runs[0]['torch'] or '—'} |"
    )


def _mean_sd(runs: list[dict[str, Any]]) -> str:
    """Mean ± sample sd of the runs' test figures; one run has no spread to give."""
    mean, sd = mean_sd([r["test_at_best"] for r in runs])
    return f"{mean:.2f} ± {sd:.2f}" if len(runs) > 1 else f"{mean:.2f} (one run)"


def _vote_line(preset: str, vote: dict[str, Any]) -> str:
    n = len(vote["member_seeds"])
    seconds = vote.get("wall_seconds")  # absent from records written before votes kept their time
    wall = f"{duration(seconds)}, all {n}" if seconds else "—"
    return (
        f"| `{preset}`: the vote of {n} | {_pct(vote['book_figure'])} | {_pct(vote['test_at_best'])} | — | 1 "
        f"| {vote['digits_wrong']} | {wall} | — | {vote['torch'] or '—'} |"
    )


def _book_of(preset: str) -> float | None:
    spec = _presets_by_name().get(preset)
    return spec.book_figure if spec else None


def _presets_by_name() -> dict:
    """The presets by name, read once per pair of preset folders rather than
    once per record."""
    from convlab.config.paths import presets_dir, shipped_presets_dir

    return _read_presets(shipped_presets_dir(), presets_dir())


@functools.lru_cache(maxsize=4)
def _read_presets(shipped: Path, user: Path) -> dict:
    from convlab.config.spec import list_presets

    return {s.name: s for s in list_presets()}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
