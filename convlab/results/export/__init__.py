"""Exports of a comparison for people who were not at the terminal:

- csv:  every per-epoch figure of every selected run, one line per run and epoch;
- json: the comparison rows and every run (config, epochs, mistakes' indices);
- md:   the comparison table, ready for a README or a paper;
- html: one self-contained report (no network, no scripts from elsewhere): the
        table, the validation curves, first-layer filters and misclassified
        digits, every picture an <img> with a data: URI holding a PNG or SVG.

The pictures are written here with numpy, zlib and struct (a PNG is a few
chunks around zlib-compressed scanlines), so no plotting library is needed.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from convlab import api
from convlab.errors import UserError
from convlab.results.report import COLUMNS, Row, runs_of
from convlab.results.stats import mean_sd
from convlab.store import Run, Store
from convlab.term.format import id_ranges
from convlab.term.render import filters_grey
from convlab.term.text import printable

FORMATS = ("csv", "json", "md", "html", "tensorboard")
MISTAKES_SHOWN = 40  # per row in the HTML report; an ensemble's vote usually has fewer
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


# ---------------------------------------------------------------- choosing and writing


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
    if fmt == "tensorboard" and path in (None, "-"):
        raise UserError("--format tensorboard writes a folder of event files; give it with -o DIR")
    return fmt


def render_as(store: Store, rows: list[Row], fmt: str) -> str:
    if not rows:
        raise UserError(f"nothing to export: no runs selected in {store.path}")
    return {"csv": to_csv, "json": to_json, "md": lambda s, r: to_markdown(r), "html": to_html}[fmt](store, rows)


def export_to(store: Store, rows: list[Row], fmt: str, path: str | None) -> str:
    """Write the rows in `fmt` to `path` (a file, stdout, or for tensorboard a
    folder); returns what was written, for the user."""
    if fmt == "tensorboard":
        from convlab.results.export import tensorboard as tensorboard_export

        if not rows:
            raise UserError(f"nothing to export: no runs selected in {store.path}")
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
    """Text that a spreadsheet would read as a formula (=cmd|…, +1, @SUM) gets a
    leading quote, the usual neutralisation; numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


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
    """Cell text as Markdown shows it, never as HTML (<svg/onload=…> stays text):
    HTML escaped, pipes escaped, control characters and newlines written as escapes."""
    return html.escape(printable(text), quote=False).replace("|", "\\|")


# ---------------------------------------------------------------- pictures


def png(grey: np.ndarray, scale: int = 1) -> bytes:
    """An 8-bit greyscale PNG of a 2-D uint8 array, each pixel `scale`× wide and high."""
    img = np.ascontiguousarray(np.asarray(grey, dtype=np.uint8).repeat(scale, 0).repeat(scale, 1))
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))  # filter type 0 on each scanline

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # bit depth 8, colour type 0 (grey)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def filters_png(filters: np.ndarray) -> bytes:
    return png(filters_grey(filters), scale=6)


def digit_png(image: np.ndarray) -> bytes:
    return png(255 - np.asarray(image, dtype=np.uint8), scale=2)


def data_uri(data: bytes | str, mime: str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * magnitude >= raw:
            return float(m * magnitude)
    return float(10 * magnitude)


Points = list[tuple[int, float]]
Band = list[tuple[int, float, float]]  # (epoch, low, high)


def svg_curves(
    series: list[tuple[str, Points]],
    title: str = "validation accuracy (%)",
    width: int = 760,
    height: int = 360,
    bands: dict[int, Band] | None = None,
    books: list[tuple[str, float]] | None = None,
) -> str:
    """Overlaid line plots (epoch → accuracy) as a standalone SVG document;
    `bands[i]` shades a range behind series i (mean ± sd), each of `books` is a
    dashed line at that figure."""
    esc = html.escape
    bands, books = bands or {}, books or []
    points = [p for _, pts in series for p in pts]
    left, right, top = 56, 16, 34
    legend_h = 18 * (len(series) + len(books)) + 10
    pw, ph = width - left - right, height - top - 40
    total_h = height + legend_h
    x_max = max((x for x, _ in points), default=1)
    x_lo, x_hi = (0.5, 1.5) if x_max <= 1 else (1, x_max)
    ys = [y for _, y in points] + [v for band in bands.values() for _, lo, hi in band for v in (lo, hi)]
    ys = (ys or [0.0, 100.0]) + [v for _, v in books]
    y_lo, y_hi = min(ys), max(ys)
    pad = max((y_hi - y_lo) * 0.08, 0.05)
    y_lo, y_hi = max(0.0, y_lo - pad), min(100.0, y_hi + pad)
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 1, y_hi + 1

    def sx(x: float) -> float:  # 10 px inside the frame, so end points clear it
        return left + 10 + (x - x_lo) / (x_hi - x_lo) * (pw - 20)

    def sy(y: float) -> float:
        return top + (1 - (y - y_lo) / (y_hi - y_lo)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
        f'viewBox="0 0 {width} {total_h}" font-family="sans-serif" font-size="12">',
        f'<rect x="0" y="0" width="{width}" height="{total_h}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-size="14">{esc(title)}</text>',
    ]
    step = _nice_step(y_hi - y_lo)
    for tick in _ticks(y_lo, y_hi, step):
        y = sy(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.{_decimals(step)}f}</text>')
    x_step = max(1, int(_nice_step(x_hi - x_lo, 8)))
    for x in range(int(np.ceil(x_lo)), int(x_hi) + 1, x_step):
        out.append(f'<text x="{sx(x):.1f}" y="{top + ph + 16}" text-anchor="middle">{x}</text>')
    out.append(f'<text x="{left + pw / 2:.0f}" y="{top + ph + 32}" text-anchor="middle">epoch</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for i, band in sorted(bands.items()):
        outline = [(sx(x), sy(hi)) for x, _, hi in band] + [(sx(x), sy(lo)) for x, lo, _ in reversed(band)]
        out.append(
            f'<polygon class="band" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in outline)}" '
            f'fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.15" stroke="none"/>'
        )
    for label, value in books:
        out.append(
            f'<line class="book" x1="{left}" y1="{sy(value):.1f}" x2="{left + pw}" y2="{sy(value):.1f}" '
            f'stroke="#444" stroke-dasharray="2 3"/>'
        )
        out.append(
            f'<text x="{left + pw - 4}" y="{sy(value) - 4:.1f}" text-anchor="end" fill="#444">'
            f"{esc(label)} {value:.2f}</text>"
        )
    for i, (label, pts) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        # past the palette's ten colours: dashed lines and hollow dots
        dash = ' stroke-dasharray="6 3"' if i >= len(PALETTE) else ""
        fill = "white" if dash else colour
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        if len(pts) > 1:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        if len(pts) <= 30:
            out += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{fill}" stroke="{colour}"/>' for x, y in pts
            ]
        ly = top + ph + 52 + 18 * i
        out.append(
            f'<line x1="{left}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="{colour}" stroke-width="3"{dash}/>'
        )
        shaded = " · shaded: mean ± sd of its runs" if i in bands else ""
        out.append(f'<text x="{left + 32}" y="{ly}">{esc(label + shaded)}</text>')
    for j, (label, value) in enumerate(books):
        ly = top + ph + 52 + 18 * (len(series) + j)
        out.append(
            f'<line x1="{left}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="#444" stroke-dasharray="2 3"/>'
        )
        out.append(f'<text x="{left + 32}" y="{ly}">{esc(label)}: {value:.2f}%</text>')
    out.append("</svg>")
    return "\n".join(out)


def _ticks(low: float, high: float, step: float) -> list[float]:
    """Multiples of `step` from low to high, computed (not summed) so they stay exact."""
    first, last = int(np.ceil(low / step - 1e-9)), int(np.floor(high / step + 1e-9))
    return [round(k * step, 10) for k in range(first, last + 1)]


def _decimals(step: float) -> int:
    """Enough decimals to tell the ticks apart: 2.5 → 1, 0.25 → 2, 5 → 0."""
    return next((d for d in range(4) if abs(step * 10**d - round(step * 10**d)) < 1e-9), 3)


def _curve_rows(store: Store, rows: list[Row]) -> list[tuple[Row, str, Points]]:
    """Each row with its best run's validation accuracy per epoch (a vote has
    no curve of its own; its best member stands in, so labelled)."""
    out = []
    for row in rows:
        if row.best is None:
            continue
        points = [(e.epoch, e.val_acc) for e in store.epochs(row.best.id) if e.val_acc is not None]
        if points:
            who = f"best member, run {row.best.id}" if row.kind == "ensemble" else f"run {row.best.id}"
            out.append((row, f"{row.preset} ({who})", points))
    return out


def curve_series(store: Store, rows: list[Row]) -> list[tuple[str, Points]]:
    return [(label, points) for _, label, points in _curve_rows(store, rows)]


def mean_sd_band(store: Store, runs: list[Run]) -> Band:
    """Per epoch that two or more of the runs reached: mean ± sd of their validation accuracy."""
    by_epoch: dict[int, list[float]] = {}
    for run in runs:
        for e in store.epochs(run.id):
            if e.val_acc is not None:
                by_epoch.setdefault(e.epoch, []).append(e.val_acc)
    band = []
    for epoch, values in sorted(by_epoch.items()):
        if len(values) > 1:
            mean, sd = mean_sd(values)
            band.append((epoch, mean - sd, mean + sd))
    return band


def html_curves(store: Store, rows: list[Row]) -> str:
    """The rows' curves, a mean ± sd band behind each group of runs, and a line at each book figure."""
    curves = _curve_rows(store, rows)
    if not curves:
        return "<p>No epochs stored yet.</p>"
    bands = {i: band for i, (row, _, _) in enumerate(curves) if row.n > 1 and (band := mean_sd_band(store, row.runs))}
    books: dict[float, list[str]] = {}
    for row, _, _ in curves:
        if row.book is not None:
            books.setdefault(row.book, []).append(row.preset)
    lines = [(f"book, {', '.join(dict.fromkeys(names))}", value) for value, names in sorted(books.items())]
    svg = svg_curves([(label, points) for _, label, points in curves], bands=bands, books=lines)
    return _img(svg, "image/svg+xml", "validation accuracy per epoch", pixelated=False)


# ---------------------------------------------------------------- HTML

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1500px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; } h3 { font-size: 1em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; cursor: pointer; } td.text, th.text { text-align: left; }
.neg { color: #b00; } .pos { color: #070; }
img.px { image-rendering: pixelated; image-rendering: crisp-edges; }
.digits { display: flex; flex-wrap: wrap; gap: 6px; }
.digits figure { margin: 0; text-align: center; font-size: 0.8em; }
.meta { color: #666; font-size: 0.9em; }
.wide { overflow-x: auto; }
table.confusion td { text-align: center; min-width: 2.5em; } td.right { color: #070; font-weight: bold; }
"""

# Click a header to sort (inline, so the report still needs no network).
SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, i) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], up = th.dataset.up !== '1';
    th.dataset.up = up ? '1' : '0';
    Array.from(body.rows).sort(function (a, b) {
      var x = a.cells[i].dataset.v, y = b.cells[i].dataset.v;
      var nx = parseFloat(x), ny = parseFloat(y);
      if (x === '' ) return 1; if (y === '') return -1;
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    }).forEach(function (r) { body.appendChild(r); });
  });
});
"""

TEXT_COLUMNS = {"preset", "runs", "data", "device", "status", "mean", "best"}


def sort_key(value) -> str:
    """A column's sort value as the page's script compares it: numbers as
    numbers, a (kind, size) pair as text that sorts the same way."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return " ".join(f"{v:012d}" if isinstance(v, int) else str(v) for v in value)
    return str(value)


def _cell(column, row: Row) -> str:
    sort_value = sort_key(column.value(row))
    klass = "text" if column.key in TEXT_COLUMNS else ""
    if column.key == "diff" and row.diff is not None:
        klass = "neg" if row.diff < 0 else "pos"
    return f'<td class="{klass}" data-v="{html.escape(str(sort_value))}">{html.escape(column.text(row))}</td>'


def _table(rows: list[Row]) -> str:
    head = "".join(
        f'<th class="{"text" if c.key in TEXT_COLUMNS else ""}" title="click to sort">{html.escape(c.header)}</th>'
        for c in COLUMNS
    )
    body = "\n".join("<tr>" + "".join(_cell(c, r) for c in COLUMNS) + "</tr>" for r in rows)
    return (
        f'<div class="wide"><table class="sortable"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n'
        "</tbody></table></div>"
    )


def _img(data: bytes | str, mime: str, alt: str, pixelated: bool = True) -> str:
    klass = ' class="px"' if pixelated else ""
    return f'<img{klass} src="{data_uri(data, mime)}" alt="{html.escape(alt)}">'


def _row_section(store: Store, row: Row) -> str:
    parts = [f'<section id="{row.key}"><h2>{html.escape(row.label)}: {html.escape(row.title)}</h2>']
    spec = (row.runs[0] if row.runs else row.vote).spec
    t = spec.train
    parts.append(
        f'<p class="meta">{html.escape(spec.architecture)} · {spec.params:,} parameters · '
        f"η {t.eta:g} · λ {t.lmbda:g} · mini-batch {t.batch_size} · {html.escape(row.data)} · "
        f"epochs planned {t.epochs} · runs {html.escape(id_ranges(row.all_ids))}</p>"
    )
    if row.kind == "ensemble":
        parts.append(
            f"<p>Plurality vote of runs {html.escape(id_ranges(row.run_ids))} "
            f"(ties go to the smallest digit): <b>{_pct(row.test)}%</b>.</p>"
        )
    if row.best is not None:
        filters = store.filters(row.best.id)
        if filters is not None:
            parts.append(
                f"<h3>First-layer filters of run {row.best.id} after epoch {row.best.epochs_done} "
                "(darker = larger weight)</h3>"
            )
            parts.append(_img(filters_png(filters), "image/png", f"filters of run {row.best.id}"))
    parts.append(_mistakes(store, row))
    parts.append(_confusion(store, row))
    parts.append(_epochs_details(store, row))
    parts.append("</section>")
    return "\n".join(parts)


def _mistakes(store: Store, row: Row) -> str:
    source = row.vote or row.best
    if source is None:
        return ""
    wrong = store.mistakes(source.id)
    if not wrong:
        return ""
    shown = wrong[:MISTAKES_SHOWN]
    more = f", the first {len(shown)} shown" if len(shown) < len(wrong) else ""
    figures = "".join(
        f"<figure>{_img(digit_png(m.image), 'image/png', f'test digit {m.index}')}"
        f"<figcaption>{m.label} → {m.predicted}</figcaption></figure>"
        for m in shown
    )
    return (
        f"<h3>{len(wrong):,} misclassified test digits of run {source.id}{more} "
        f'(true label → the network\'s)</h3><div class="digits">{figures}</div>'
    )


def _confusion(store: Store, row: Row) -> str:
    """Rows: the true digit; columns: the network's answer; off the diagonal,
    the darker the more often."""
    from convlab.results.confusion import confusion

    source = row.vote or row.best
    predictions = None if source is None else store.predictions(source.id)
    if predictions is None:
        return ""
    m = confusion(predictions, store.mistakes(source.id))
    worst = max(1, int((m - np.diag(np.diag(m))).max()))

    def cell(true: int, answer: int) -> str:
        n = int(m[true, answer])
        if true == answer:
            return f'<td class="right">{n:,}</td>'
        shade = f' style="background: rgba(200, 0, 0, {0.1 + 0.6 * n / worst:.2f})"' if n else ""
        return f"<td{shade}>{n if n else '·'}</td>"

    head = "".join(f"<th>{d}</th>" for d in range(10))
    body = "".join(f"<tr><th>{t}</th>{''.join(cell(t, a) for a in range(10))}</tr>" for t in range(10))
    return (
        f"<h3>Confusion matrix of run {source.id}: {np.trace(m):,} of {m.sum():,} right "
        f"(rows: the true digit, columns: the network's answer)</h3>"
        f'<table class="confusion"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _epochs_details(store: Store, row: Row) -> str:
    blocks = []
    for run in row.runs:
        epochs = store.epochs(run.id)
        if not epochs:
            continue
        lines = "".join(
            f"<tr><td>{e.epoch}</td><td>{_num(e.train_loss, 4)}</td><td>{_pct(e.val_acc)}</td>"
            f"<td>{_num(e.val_loss, 4)}</td><td>{_pct(e.test_acc)}</td><td>{_num(e.seconds, 1)}</td></tr>"
            for e in epochs
        )
        blocks.append(
            f"<h3>run {run.id} (seed {run.seed})</h3><table><thead><tr><th>epoch</th><th>loss</th>"
            "<th>validation %</th><th>validation loss</th><th>test %</th><th>seconds</th></tr></thead>"
            f"<tbody>{lines}</tbody></table>"
        )
    if not blocks:
        return ""
    return "<details><summary>every epoch</summary>" + "".join(blocks) + "</details>"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _num(v: float | None, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def to_html(store: Store, rows: list[Row], title: str = "convlab: chapter 6 compared") -> str:
    from convlab import __version__

    curves = html_curves(store, rows)
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">convlab {__version__} · {html.escape(time.strftime("%Y-%m-%d %H:%M"))} · '
        f"store {html.escape(str(store.path))} · accuracies in percent on the 10,000 MNIST test digits; "
        "a row with repeats gives the test accuracy of its run with the best validation accuracy (best of N), "
        "as the book did; Δ book is that minus the book's figure.</p>",
        "<h2>Comparison</h2>",
        _table(rows),
        "<h2>Validation accuracy</h2>",
        curves,
        *(_row_section(store, r) for r in rows),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )
