"""A sweep's table as a file: CSV, JSON, Markdown, or HTML (the table and its
curves); `convlab export --sweep` and the lab's sweep view write it."""

from __future__ import annotations

import csv
import io
import json
from html import escape

from convlab.results.export.tables import csv_cell, md_cell
from convlab.results.pictures import svg_curves
from convlab.runs import sweep
from convlab.store import Store
from convlab.term.text import printable


def sweep_text(store: Store, sweep_id, pivot_field: str | None, fmt: str) -> str:
    """A sweep's table as csv, json, md or html; `pivot_field`: one row per value of that field."""
    record, rows = sweep.table(store, sweep_id)
    if pivot_field:
        rows = sweep.pivot(rows, pivot_field)
    if fmt == "json":
        return json.dumps({"sweep": record, "pivot": pivot_field, "rows": sweep.records(rows)}, indent=2) + "\n"
    header, body = sweep.cells(rows)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(sweep.records(rows)[0]) if rows else ["runs"])
        writer.writeheader()
        for line in sweep.records(rows):
            writer.writerow({k: csv_cell(" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in line.items()})
        return buf.getvalue()
    lines = [[md_cell(c) for c in header], ["---"] * len(header)] + [[md_cell(c) for c in b] for b in body]
    markdown = "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"
    if fmt == "md":
        return markdown
    return _html(store, record, rows, header, body)


def _html(store: Store, record, rows, header, body) -> str:
    series = sweep.curve_series(store, rows)
    table = (
        "<table>"
        + "".join(
            "<tr>" + "".join(f"<{t}>{escape(c)}</{t}>" for c in line) + "</tr>"
            for t, line in [("th", header)] + [("td", b) for b in body]
        )
        + "</table>"
    )
    title = escape(printable(f"convlab sweep {record['id']}: {record['preset']}"))
    return (
        f"<!doctype html><meta charset=utf-8><title>{title}</title>"
        f"<style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:right}}</style>"
        f"<h1>{title}</h1>{table}{svg_curves(series) if series else ''}\n"
    )
