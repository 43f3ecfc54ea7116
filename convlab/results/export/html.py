"""The comparison as one self-contained HTML report (no network, no scripts
from elsewhere): the table, the validation curves, first-layer filters,
misclassified digits, each row's most confident mistakes seen from inside its
network, and confusion matrices, every picture an <img> with a data: URI
holding a PNG or SVG (results/pictures.py)."""

from __future__ import annotations

import html
import json
import subprocess
import sys
import time

import numpy as np

from convlab.results.curves import curve_rows, eta_points, mean_sd_band
from convlab.results.pictures import data_uri, digit_png, filters_png, maps_png, saliency_png, svg_curves
from convlab.results.report import COLUMNS, Row
from convlab.store import Store
from convlab.term.format import id_ranges, pct

MISTAKES_SHOWN = 40  # per row in the report; an ensemble's vote usually has fewer
CHILD_TIMEOUT_S = 900  # seconds for the most confident mistakes of all the report's runs together


def html_curves(store: Store, rows: list[Row]) -> str:
    """The rows' curves, a mean ± sd band behind each group of runs, and a line at each book figure."""
    curves = curve_rows(store, rows)
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
.mistake { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; margin: 0.8em 0; }
.mistake figure { margin: 0; text-align: center; font-size: 0.8em; }
table.probs td { padding: 0 0.4em; border: none; font-size: 0.85em; }
.bar { display: inline-block; height: 0.7em; background: #888; } .bar.answer { background: #b00; }
.bar.label { background: #070; }
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


def _inspected(row: Row) -> list:
    """The runs whose mistakes the report looks at from inside: the vote, the
    best run (whose figure the row reports), then the row's other runs."""
    first = [r for r in (row.vote, row.best) if r is not None]
    return first + [r for r in row.runs if all(r.id != f.id for f in first)]


def inside_of(store: Store, rows: list[Row]) -> dict[str, dict]:
    """Each run's most confident mistakes (convlab/inspect/mistakes.py), keyed by
    run id, or {"error": line}. Computed in a child process: the lab writes this
    report too, and the lab never imports torch."""
    runs = {r.id: r for row in rows for r in _inspected(row) if store.mistakes(r.id)}
    out: dict[str, dict] = {}
    for run in runs.values():
        if run.status == "finished" and not _keeps_weights(store, run):
            out[str(run.id)] = {"error": "it keeps no trained weights (finished before convlab kept them)"}
    ids = sorted(i for i in runs if str(i) not in out)
    return out | (_inside_child(store, ids) if ids else {})


def _keeps_weights(store: Store, run) -> bool:
    """Whether inspect/trained.py can rebuild the run's network (a vote: each member's)."""
    members = run.members if run.kind == "ensemble" else [run.id]
    return all(store.keeps_network(m) for m in members)


def _inside_child(store: Store, ids: list[int]) -> dict[str, dict]:
    command = [sys.executable, "-m", "convlab.inspect.mistakes", str(store.path), *map(str, ids)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=CHILD_TIMEOUT_S)
        if done.returncode == 0:
            return json.loads(done.stdout)
        line = (done.stderr.strip().splitlines() or ["no answer"])[-1]
    except subprocess.TimeoutExpired:
        line = f"no answer in {CHILD_TIMEOUT_S} s"
    except ValueError as exc:  # not the JSON it prints
        line = str(exc)
    return {str(i): {"error": f"the network's view could not be computed ({line[:160]})"} for i in ids}


def _inside(row: Row, inside: dict[str, dict]) -> str:
    """The vote's or best run's cards open, the row's other runs' folded away."""
    blocks = [_inside_run(run, inside[str(run.id)]) for run in _inspected(row) if str(run.id) in inside]
    if len(blocks) <= 1:
        return "".join(blocks)
    others = "".join(blocks[1:])
    return f"{blocks[0]}<details><summary>the other runs' most confident mistakes</summary>{others}</details>"


def _inside_run(run, found: dict) -> str:
    if "error" in found:
        return f'<p class="meta">Most confident mistakes of run {run.id}: {html.escape(found["error"])}</p>'
    cards = "".join(_mistake_card(run.id, m) for m in found["mistakes"])
    vote = " (the members' mean probabilities; saliency and maps of its first member)" if run.kind == "ensemble" else ""
    return (
        f"<h3>The {len(found['mistakes'])} most confident mistakes of run {run.id}{vote}: each digit, the "
        "network's ten probabilities (red: its answer, green: the true digit), the saliency |∂ score of its "
        "answer / ∂ pixel| (darker mattered more) and the first layer's feature maps (darker = larger)</h3>" + cards
    )


def _mistake_card(run_id: int, m: dict) -> str:
    probs, answer, label = m["probabilities"], m["predicted"], m["label"]

    def bar(d: int, p: float) -> str:
        klass = "bar answer" if d == answer else "bar label" if d == label else "bar"
        width = max(1, round(120 * p))
        return f'<tr><td>{d}</td><td><span class="{klass}" style="width: {width}px"></span></td><td>{100 * p:.1f}%</td></tr>'

    caption = f"test digit {m['index']}: {label} → {answer} ({100 * probs[answer]:.1f}%)"
    of = f"of run {run_id}, test digit {m['index']}"
    parts = [
        _figure(
            digit_png(np.asarray(m["image"], dtype=np.uint8)), f"confident mistake of run {run_id}: {caption}", caption
        ),
        f'<table class="probs"><tbody>{"".join(bar(d, p) for d, p in enumerate(probs))}</tbody></table>',
        _figure(saliency_png(np.asarray(m["saliency"])), f"saliency {of}", "saliency"),
    ]
    if m.get("maps") is not None:
        maps = np.asarray(m["maps"])
        parts.append(_figure(maps_png(maps), f"first-layer maps {of}", f"the first layer's {len(maps)} maps"))
    return f'<div class="mistake">{"".join(parts)}</div>'


def _figure(png_bytes: bytes, alt: str, caption: str) -> str:
    return f"<figure>{_img(png_bytes, 'image/png', alt)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _row_section(store: Store, row: Row, inside: dict[str, dict] | None = None) -> str:
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
            f"(ties go to the smallest digit): <b>{pct(row.test)}%</b>.</p>"
        )
    if row.best is not None:
        filters = store.filters(row.best.id)
        if filters is not None:
            parts.append(
                f"<h3>First-layer filters of run {row.best.id} after epoch {row.best.epochs_done} "
                "(darker = larger weight)</h3>"
            )
            parts.append(_img(filters_png(filters), "image/png", f"filters of run {row.best.id}"))
    parts.append(_eta_plot(store, row))
    parts.append(_mistakes(store, row))
    parts.append(_inside(row, inside or {}))
    parts.append(_confusion(store, row))
    parts.append(_epochs_details(store, row))
    parts.append("</section>")
    return "\n".join(parts)


def _eta_plot(store: Store, row: Row) -> str:
    """η per epoch of the row's runs whose schedule changed it (none drawn for a fixed η)."""
    series = [(f"run {run.id}", points) for run in row.runs if (points := eta_points(store.epochs(run.id)))]
    if not series:
        return ""
    svg = svg_curves(series, title="learning rate η by epoch", min_pad=0.0)
    return "<h3>Learning rate η by epoch (the η schedule changed it)</h3>" + _img(
        svg, "image/svg+xml", "learning rate per epoch", pixelated=False
    )


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
        etas = eta_points(epochs) is not None  # a column only when a schedule changed η
        lines = "".join(
            f"<tr><td>{e.epoch}</td><td>{_num(e.train_loss, 4)}</td><td>{pct(e.val_acc)}</td>"
            f"<td>{_num(e.val_loss, 4)}</td><td>{pct(e.test_acc)}</td><td>{_num(e.seconds, 1)}</td>"
            + (f"<td>{'' if e.eta is None else f'{e.eta:g}'}</td>" if etas else "")
            + "</tr>"
            for e in epochs
        )
        blocks.append(
            f"<h3>run {run.id} (seed {run.seed})</h3><table><thead><tr><th>epoch</th><th>loss</th>"
            "<th>validation %</th><th>validation loss</th><th>test %</th><th>seconds</th>"
            + ("<th>η</th>" if etas else "")
            + f"</tr></thead><tbody>{lines}</tbody></table>"
        )
    if not blocks:
        return ""
    return "<details><summary>every epoch</summary>" + "".join(blocks) + "</details>"


def _num(v: float | None, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def to_html(store: Store, rows: list[Row], title: str = "convlab: chapter 6 compared") -> str:
    from convlab import __version__

    curves = html_curves(store, rows)
    inside = inside_of(store, rows)
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
        *(_row_section(store, r, inside) for r in rows),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )
