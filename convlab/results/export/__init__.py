"""Exports of a comparison, one module per format: tables (csv, json, md),
html (one self-contained report), tensorboard (a folder of event files) and
records (a folder of one JSON file per finished run: convlab/results/records.py).
Here: choosing the format and writing the result."""

from __future__ import annotations

import sys
from pathlib import Path

from convlab.errors import UserError
from convlab.results.report import Row
from convlab.store import Store

FORMATS = ("csv", "json", "md", "html", "tensorboard", "records")
FOLDERS = ("tensorboard", "records")  # formats that write a folder, given with -o DIR


def format_for(path: str | None, fmt: str | None) -> str:
    """--format, else the -o file's suffix, else Markdown."""
    if fmt is None and path and path != "-":
        fmt = Path(path).suffix.lstrip(".").lower() or None
        fmt = {"htm": "html", "markdown": "md"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise UserError(f"-o {path}: cannot tell the format from its suffix; add --format {'|'.join(FORMATS)}")
    fmt = fmt or "md"
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: not a format; choose one of {', '.join(FORMATS)}")
    if fmt in FOLDERS and path in (None, "-"):
        raise UserError(f"--format {fmt} writes a folder of files; give it with -o DIR")
    return fmt


def render_as(store: Store, rows: list[Row], fmt: str) -> str:
    """The rows as the text of a csv, json, md or html file."""
    from convlab.results.export import html, tables

    if not rows:
        raise UserError(f"nothing to export: no runs selected in {store.path}")
    write_as = {"csv": tables.to_csv, "json": tables.to_json, "md": lambda s, r: tables.to_markdown(r)}
    return {**write_as, "html": html.to_html}[fmt](store, rows)


def export_to(store: Store, rows: list[Row], fmt: str, path: str | None) -> str:
    """Write the rows in `fmt` to `path` (a file, stdout, or for tensorboard a
    folder); returns what was written, for the user."""
    if fmt in FOLDERS and not rows:
        raise UserError(f"nothing to export: no runs selected in {store.path}")
    if fmt == "records":
        from convlab.results import records
        from convlab.results.report import runs_of

        written = records.write(store, runs_of(store, rows), path)
        return f"{path} ({len(written)} records and {records.TABLE})"
    if fmt == "tensorboard":
        from convlab.results.export import tensorboard as tensorboard_export

        folders = tensorboard_export.write(store, rows, path)
        return f"{path} ({len(folders)} runs; `tensorboard --logdir {path}`)"
    write(render_as(store, rows, fmt), path)
    return f"{path} ({fmt}, {len(rows)} rows)"


def write(text: str, path: str | None) -> None:
    """To the file at `path`, or to stdout for None or '-'."""
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise UserError(f"-o {path}: cannot write it ({exc.strerror or exc}); choose another path") from None
