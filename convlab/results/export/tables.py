"""The comparison as tables, for people who were not at the terminal:

- csv:  every per-epoch figure of every selected run, one line per run and epoch;
- json: the comparison rows and every run (config, epochs, mistakes' indices);
- md:   the comparison table, ready for a README or a paper.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import time
from typing import Any

from convlab import api
from convlab.results.report import COLUMNS, Row, runs_of
from convlab.store import Run, Store
from convlab.term.text import printable

# ---------------------------------------------------------------- CSV and JSON

# The run's columns, then the epoch's: the same names and values as convlab.api's records.
CSV_FIELDS = (
    "run",
    "group",
    "member",
    "kind",
    "preset",
    "title",
    "status",
    "seed",
    "device",
    "device_name",
    "path",
    "peak_memory",
    "members",
    "started",
    "ended",
    "epochs_planned",
    "epochs_done",
    "best_val",
    "best_epoch",
    "test_at_best",
    "book_figure",
    *api.HPARAMS,
    "tags",
    "note",
    *api.EPOCH_FIELDS,
)


def to_csv(store: Store, rows: list[Row]) -> str:
    """One line per run and epoch (tidy: the hyper-parameters are columns, so
    a sweep pivots); a vote, which has no epochs, gets one line with its
    accuracy in test_at_best. Whole numbers are written as such, an empty
    cell is a missing value."""
    buf = io.StringIO()
    out = _SafeWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    out.writeheader()
    for record in api.epoch_records(store, runs_of(store, rows)):
        out.writerow({k: " ".join(map(str, v)) if isinstance(v, list) else v for k, v in record.items()})
    return buf.getvalue()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell


def csv_cell(value: Any) -> Any:
    """Text that a spreadsheet would read as a formula (=cmd|…, +1, @SUM, also
    after blanks: ` =HYPERLINK(…)`, a newline then `=1+1`) gets a leading quote,
    the usual neutralisation; control characters but the newline (ESC, CR) are
    written as escapes; numbers are left as they are."""
    if not isinstance(value, str):
        return value
    text = "\n".join(printable(line) for line in value.split("\n"))  # a quoted CSV cell keeps its lines
    return "'" + text if value.lstrip().startswith(FORMULA_START) or value.startswith(FORMULA_START) else text


class _SafeWriter(csv.DictWriter):
    def writerow(self, row: dict[str, Any]):
        return super().writerow({k: csv_cell(v) for k, v in row.items()})


def finite(value: Any) -> Any:
    """NaN and infinities (an old store's diverged loss) become null: strict
    JSON parsers reject bare NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def run_dict(store: Store, run: Run) -> dict[str, Any]:
    return {
        **api.run_record(run),
        "versions": run.versions,
        "config": run.config,
        "epochs": [api.rounded({k: getattr(e, k) for k in (*api.EPOCH_FIELDS, "eta")}) for e in store.epochs(run.id)],
        "mistakes": api.mistakes(store, run.id),
    }


def to_json(store: Store, rows: list[Row]) -> str:
    from convlab import __version__

    doc = {
        "convlab": __version__,
        "exported": api.iso(time.time()),
        "store": str(store.path),
        "accuracy_unit": "percent",
        "columns": [c.key for c in COLUMNS],
        "rows": [api.row_record(r) for r in rows],
        "runs": [run_dict(store, r) for r in runs_of(store, rows)],
    }
    return json.dumps(finite(doc), indent=1, allow_nan=False) + "\n"


# ---------------------------------------------------------------- Markdown


def to_markdown(rows: list[Row]) -> str:
    """A pipe table, columns padded so the source reads as a table too."""
    columns = [c for c in COLUMNS if c.key != "status" or any(r.status != "finished" for r in rows)]
    table = [[c.header for c in columns]] + [[md_cell(c.text(r)) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    numeric = {"val", "test", "book", "diff", "epoch_time", "epochs", "n"}

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if c.key in numeric else "-" * (w + 2) for c, w in zip(columns, widths))
        + "|"
    )
    return "\n".join([line(table[0]), rule] + [line(v) for v in table[1:]]) + "\n"


def md_cell(text: str) -> str:
    """Cell text as Markdown shows it, never as HTML (<svg/onload=…> stays text)
    nor as a link or image (`![x](http://…)` stays text): HTML escaped, pipes,
    brackets and backslashes escaped, control characters and newlines written as escapes."""
    text = printable(text.replace("\\", "\\\\"))  # the user's backslashes: none may undo an escape below
    return html.escape(text, quote=False).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
