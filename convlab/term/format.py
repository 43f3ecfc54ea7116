"""Short text forms of numbers and times, shared by the CLI, the reports and the lab."""

from __future__ import annotations

import time

from convlab.term.text import IN_LINE_WIDTH, shown

DASH = "—"


def pct(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def when(ts: float | None) -> str:
    """A start time as the local date and minute."""
    return DASH if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def duration(seconds: float | None) -> str:
    """12s, 3m05s, 2h07m: short enough for a status line."""
    if seconds is None:
        return DASH
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def count(n: int | None) -> str:
    return DASH if n is None else f"{n:,}"


def data_label(data: str, train_limit: int = 0) -> str:
    """What a preset trains on: 50k, 250k expanded, 50k elastic, 250k expanded+elastic, or the first N images."""
    if train_limit:
        return f"first {train_limit:,}"
    return data_size(data) if data == "plain" else f"{data_size(data)} {data.replace('_', '+')}"


def data_size(data: str) -> str:
    """The training images an epoch of `data` holds: 50k or 250k."""
    from convlab.config.spec import TRAIN_IMAGES

    return f"{TRAIN_IMAGES.get(data, 50_000) // 1000}k"


def counted(n: int, noun: str) -> str:
    """1 epoch, 2 epochs: a count and its noun, plural when it is not one."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def swept_value(value) -> str:
    """A swept field's value in a table cell: 0.05, 1e-05, relu (a name cut to fit a line)."""
    return f"{value:g}" if isinstance(value, float) else shown(str(value), IN_LINE_WIDTH)


def swept_header(field: str) -> str:
    """A swept field as a column's header: `train.lmbda` → `lmbda`; a layer's field keeps its layer."""
    return field.removeprefix("train.")


def shape(dims: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in dims)


def labels(tags: list[str], note: str) -> str:
    """A run's tags and note, for tables: `#sweep #fast  smaller η`."""
    return "  ".join(x for x in (" ".join(f"#{t}" for t in tags), note) if x)


def size(nbytes: int | None) -> str:
    """Bytes as people read them: 812 B, 14.2 kB, 10.3 MB (powers of 1,000)."""
    if nbytes is None:
        return DASH
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return DASH


def id_ranges(ids: list[int]) -> str:
    """[4, 5, 6, 9] → '4–6, 9'."""
    ids = sorted(ids)
    parts, start = [], None
    for i, x in enumerate(ids):
        start = x if start is None else start
        if i + 1 == len(ids) or ids[i + 1] != x + 1:
            parts.append(str(x) if x == start else f"{start}–{x}")
            start = None
    return ", ".join(parts)


def device_figures(run, images_per_s: float | None = None) -> str | None:
    """A run's device figures in one line (None for a run stored without them):
    how it trained, on what, with which torch and CUDA, its peak memory and
    `images_per_s` (its last epoch's, by default)."""
    if not (run.path or run.device_name):
        return None
    versions = run.versions or {}
    libs = f"torch {versions.get('torch', DASH)}" + (f", CUDA {versions['cuda']}" if versions.get("cuda") else "")
    where = f"{run.path or DASH} on {run.device_name or run.device or DASH}"
    memory = "peak memory " + size(run.peak_memory) if run.peak_memory else "peak memory —"
    rate = DASH if images_per_s is None else f"{images_per_s:,.0f}"
    return f"{where} · {libs} · {memory} · {rate} images/s"


def last_rate(epochs) -> float | None:
    """The images per second of the last epoch that measured them."""
    rates = [e.images_per_s for e in epochs if getattr(e, "images_per_s", None)]
    return rates[-1] if rates else None
