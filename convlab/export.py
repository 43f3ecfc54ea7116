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

from convlab import render
from convlab.errors import UserError
from convlab.format import id_ranges
from convlab.report import COLUMNS, Row
from convlab.store import Run, Store
from convlab.text import printable

FORMATS = ("csv", "json", "md", "html")
MISTAKES_SHOWN = 40  # per row in the HTML report; an ensemble's vote usually has fewer
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


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
    return fmt


def render_as(store: Store, rows: list[Row], fmt: str) -> str:
    if not rows:
        raise UserError(f"nothing to export: no runs selected in {store.path}")
    return {"csv": to_csv, "json": to_json, "md": lambda s, r: to_markdown(r), "html": to_html}[fmt](store, rows)


def write(text: str, path: str | None) -> None:
    """To the file at `path`, or to stdout for None or '-'."""
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise UserError(f"-o {path}: cannot write it ({exc.strerror or exc}); choose another path") from None


def runs_of(store: Store, rows: list[Row]) -> list[Run]:
    """Every run the rows stand for, the votes included, each once, by id."""
    seen: dict[int, Run] = {}
    for row in rows:
        for run in row.runs + ([row.vote] if row.vote else []):
            seen.setdefault(run.id, run)
    return [seen[k] for k in sorted(seen)]


# ---------------------------------------------------------------- CSV and JSON

CSV_FIELDS = ("run", "group", "member", "kind", "preset", "title", "members", "seed", "device", "status",
              "data", "train_limit", "epochs_planned", "epoch", "train_loss", "val_acc", "test_acc",
              "seconds", "eta", "best_val", "best_epoch", "test_at_best", "book_figure")


def to_csv(store: Store, rows: list[Row]) -> str:
    """One line per run and epoch; a vote, which has no epochs, gets one line
    with its accuracy in test_at_best."""
    buf = io.StringIO()
    out = _SafeWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    out.writeheader()
    for run in runs_of(store, rows):
        train = run.config.get("train", {})
        base = {"run": run.id, "group": run.group_id, "member": run.member, "kind": run.kind,
                "preset": run.preset, "title": run.title, "members": " ".join(map(str, run.members)),
                "seed": run.seed, "device": run.device, "status": run.status, "data": train.get("data"),
                "train_limit": train.get("train_limit") or "", "epochs_planned": run.epochs_planned,
                "best_val": run.best_val, "best_epoch": run.best_epoch, "test_at_best": run.test_at_best,
                "book_figure": run.book_figure}
        epochs = store.epochs(run.id)
        for e in epochs:
            out.writerow({**base, "epoch": e.epoch, "train_loss": e.train_loss, "val_acc": e.val_acc,
                          "test_acc": e.test_acc, "seconds": e.seconds, "eta": e.eta})
        if not epochs:
            out.writerow(base)
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


def row_dict(row: Row) -> dict[str, Any]:
    return {
        "key": row.key, "kind": row.kind, "preset": row.preset, "title": row.title,
        "chapter_row": row.chapter_row or None, "runs": row.run_ids, "vote": row.vote.id if row.vote else None,
        "best_run": row.best.id if row.best else None, "epochs": row.epochs, "data": row.data,
        "best_val": row.best_val, "test": row.test, "book": row.book, "diff": row.diff,
        "mean": row.mean, "sd": row.sd, "sec_per_epoch": row.sec_per_epoch, "total_seconds": row.total_seconds,
        "device": row.device, "status": row.status,
    }


def run_dict(store: Store, run: Run) -> dict[str, Any]:
    return {
        "id": run.id, "group": run.group_id, "member": run.member, "kind": run.kind, "preset": run.preset,
        "title": run.title, "seed": run.seed, "device": run.device, "status": run.status,
        "started": run.started, "ended": run.ended, "epochs_planned": run.epochs_planned,
        "epochs_done": run.epochs_done, "best_val": run.best_val, "best_epoch": run.best_epoch,
        "test_at_best": run.test_at_best, "book_figure": run.book_figure, "members": run.members,
        "versions": run.versions, "config": run.config,
        "epochs": [vars(e) for e in store.epochs(run.id)],
        "mistakes": [{"index": m.index, "label": m.label, "predicted": m.predicted} for m in store.mistakes(run.id)],
    }


def to_json(store: Store, rows: list[Row]) -> str:
    from convlab import __version__

    doc = {
        "convlab": __version__, "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "store": str(store.path),
        "accuracy_unit": "percent", "columns": [c.key for c in COLUMNS],
        "rows": [row_dict(r) for r in rows],
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

    rule = "|" + "|".join(("-" * (w + 1) + ":") if c.key in numeric else "-" * (w + 2)
                          for c, w in zip(columns, widths)) + "|"
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


def levels_to_grey(levels: np.ndarray) -> np.ndarray:
    """Levels in [0, 1] → grey, darker for larger, as the book draws filters and digits."""
    return np.round(255 * (1.0 - np.asarray(levels, dtype=np.float64))).astype(np.uint8)


def filters_png(filters: np.ndarray) -> bytes:
    filters = np.asarray(filters).reshape(-1, *np.shape(filters)[-2:])  # (maps, k, k), also from (maps, 1, k, k)
    levels = render.tile(list(render.filter_levels(filters)), columns=10)
    return png(levels_to_grey(levels), scale=6)


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


def svg_curves(series: list[tuple[str, list[tuple[int, float]]]], title: str = "validation accuracy (%)",
               width: int = 760, height: int = 360) -> str:
    """Overlaid line plots (epoch → accuracy) as a standalone SVG document."""
    esc = html.escape
    points = [p for _, pts in series for p in pts]
    left, right, top = 56, 16, 34
    legend_h = 18 * len(series) + 10
    pw, ph = width - left - right, height - top - 40
    total_h = height + legend_h
    x_max = max((x for x, _ in points), default=1)
    x_lo, x_hi = (0.5, 1.5) if x_max <= 1 else (1, x_max)
    ys = [y for _, y in points] or [0.0, 100.0]
    y_lo, y_hi = min(ys), max(ys)
    pad = max((y_hi - y_lo) * 0.08, 0.05)
    y_lo, y_hi = max(0.0, y_lo - pad), min(100.0, y_hi + pad)
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 1, y_hi + 1

    def sx(x: float) -> float:  # 10 px inside the frame, so end points clear it
        return left + 10 + (x - x_lo) / (x_hi - x_lo) * (pw - 20)

    def sy(y: float) -> float:
        return top + (1 - (y - y_lo) / (y_hi - y_lo)) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
           f'viewBox="0 0 {width} {total_h}" font-family="sans-serif" font-size="12">',
           f'<rect x="0" y="0" width="{width}" height="{total_h}" fill="white"/>',
           f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-size="14">{esc(title)}</text>']
    step = _nice_step(y_hi - y_lo)
    tick = np.ceil(y_lo / step) * step
    while tick <= y_hi + 1e-9:
        y = sy(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.{_decimals(step)}f}</text>')
        tick += step
    x_step = max(1, int(_nice_step(x_hi - x_lo, 8)))
    for x in range(int(np.ceil(x_lo)), int(x_hi) + 1, x_step):
        out.append(f'<text x="{sx(x):.1f}" y="{top + ph + 16}" text-anchor="middle">{x}</text>')
    out.append(f'<text x="{left + pw / 2:.0f}" y="{top + ph + 32}" text-anchor="middle">epoch</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for i, (label, pts) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        # past the palette's ten colours: dashed lines and hollow dots
        dash = ' stroke-dasharray="6 3"' if i >= len(PALETTE) else ""
        fill = "white" if dash else colour
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        if len(pts) > 1:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        if len(pts) <= 30:
            out += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{fill}" stroke="{colour}"/>'
                    for x, y in pts]
        ly = top + ph + 52 + 18 * i
        out.append(f'<line x1="{left}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="{colour}" '
                   f'stroke-width="3"{dash}/>')
        out.append(f'<text x="{left + 32}" y="{ly}">{esc(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _decimals(step: float) -> int:
    return 0 if step >= 1 else 1 if step >= 0.1 else 2


def curve_series(store: Store, rows: list[Row]) -> list[tuple[str, list[tuple[int, float]]]]:
    """Each row's best run's validation accuracy per epoch (a vote has no curve
    of its own; its best member stands in, so labelled)."""
    series = []
    for row in rows:
        if row.best is None:
            continue
        points = [(e.epoch, e.val_acc) for e in store.epochs(row.best.id) if e.val_acc is not None]
        if points:
            who = f"best member, run {row.best.id}" if row.kind == "ensemble" else f"run {row.best.id}"
            series.append((f"{row.preset} ({who})", points))
    return series


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


def _cell(column, row: Row) -> str:
    value = column.value(row)
    sort_value = "" if value is None else (value if isinstance(value, (int, float, str)) else str(value))
    klass = "text" if column.key in TEXT_COLUMNS else ""
    if column.key == "diff" and row.diff is not None:
        klass = "neg" if row.diff < 0 else "pos"
    return (f'<td class="{klass}" data-v="{html.escape(str(sort_value))}">'
            f"{html.escape(column.text(row))}</td>")


def _table(rows: list[Row]) -> str:
    head = "".join(f'<th class="{"text" if c.key in TEXT_COLUMNS else ""}" title="click to sort">'
                   f"{html.escape(c.header)}</th>" for c in COLUMNS)
    body = "\n".join("<tr>" + "".join(_cell(c, r) for c in COLUMNS) + "</tr>" for r in rows)
    return (f'<div class="wide"><table class="sortable"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n'
            "</tbody></table></div>")


def _img(data: bytes | str, mime: str, alt: str, pixelated: bool = True) -> str:
    klass = ' class="px"' if pixelated else ""
    return f'<img{klass} src="{data_uri(data, mime)}" alt="{html.escape(alt)}">'


def _row_section(store: Store, row: Row) -> str:
    parts = [f'<section id="{row.key}"><h2>{html.escape(row.label)}: {html.escape(row.title)}</h2>']
    spec = (row.runs[0] if row.runs else row.vote).spec
    t = spec.train
    parts.append(f'<p class="meta">{html.escape(spec.architecture)} · {spec.params:,} parameters · '
                 f"η {t.eta:g} · λ {t.lmbda:g} · mini-batch {t.batch_size} · {html.escape(row.data)} · "
                 f"epochs planned {t.epochs} · runs {html.escape(id_ranges(row.all_ids))}</p>")
    if row.kind == "ensemble":
        parts.append(f"<p>Plurality vote of runs {html.escape(id_ranges(row.run_ids))} "
                     f"(ties go to the smallest digit): <b>{_pct(row.test)}%</b>.</p>")
    if row.best is not None:
        filters = store.filters(row.best.id)
        if filters is not None:
            parts.append(f"<h3>First-layer filters of run {row.best.id} after epoch {row.best.epochs_done} "
                         "(darker = larger weight)</h3>")
            parts.append(_img(filters_png(filters), "image/png", f"filters of run {row.best.id}"))
    parts.append(_mistakes(store, row))
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
    figures = "".join(f"<figure>{_img(digit_png(m.image), 'image/png', f'test digit {m.index}')}"
                      f"<figcaption>{m.label} → {m.predicted}</figcaption></figure>" for m in shown)
    return (f"<h3>{len(wrong):,} misclassified test digits of run {source.id}{more} "
            f"(true label → the network's)</h3><div class=\"digits\">{figures}</div>")


def _epochs_details(store: Store, row: Row) -> str:
    blocks = []
    for run in row.runs:
        epochs = store.epochs(run.id)
        if not epochs:
            continue
        lines = "".join(f"<tr><td>{e.epoch}</td><td>{_num(e.train_loss, 4)}</td><td>{_pct(e.val_acc)}</td>"
                        f"<td>{_pct(e.test_acc)}</td><td>{_num(e.seconds, 1)}</td></tr>" for e in epochs)
        blocks.append(f"<h3>run {run.id} (seed {run.seed})</h3><table><thead><tr><th>epoch</th><th>loss</th>"
                      f"<th>validation %</th><th>test %</th><th>seconds</th></tr></thead><tbody>{lines}</tbody></table>")
    if not blocks:
        return ""
    return "<details><summary>every epoch</summary>" + "".join(blocks) + "</details>"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _num(v: float | None, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def to_html(store: Store, rows: list[Row], title: str = "convlab: chapter 6 compared") -> str:
    from convlab import __version__

    series = curve_series(store, rows)
    curves = _img(svg_curves(series), "image/svg+xml", "validation accuracy per epoch", pixelated=False) \
        if series else "<p>No epochs stored yet.</p>"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">convlab {__version__} · {html.escape(time.strftime("%Y-%m-%d %H:%M"))} · '
        f"store {html.escape(str(store.path))} · accuracies in percent on the 10,000 MNIST test digits; "
        "a row with repeats gives the test accuracy of its run with the best validation accuracy (best of N), "
        "as the book did; Δ book is that minus the book's figure.</p>",
        "<h2>Comparison</h2>", _table(rows),
        "<h2>Validation accuracy</h2>", curves,
        *(_row_section(store, r) for r in rows),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n")
