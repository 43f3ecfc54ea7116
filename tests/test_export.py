"""Every export format read back: CSV with `csv`, JSON with `json`, the
Markdown table line by line, and the HTML report parsed with html.parser,
each picture base64-decoded (PNG chunks and pixels checked, SVG parsed)."""

from __future__ import annotations

import base64
import csv
import io
import json
import struct
import zlib
from html.parser import HTMLParser
from xml.etree import ElementTree

import numpy as np
import pytest

from convlab.results import pictures, report
from convlab.results.export import html as html_export
from convlab.results.export import tables
from convlab.store import Store

from helpers import assert_user_error
from report_fixtures import make_store


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("export") / "runs.sqlite")


@pytest.fixture
def store(made):
    with Store(made.path) as s:
        yield s


@pytest.fixture
def rows(store):
    return report.compare(store)


# ---------------------------------------------------------------- reading pictures back


def decode_png(data: bytes) -> np.ndarray:
    """A greyscale 8-bit PNG (filter 0 scanlines, as written) → array; checks
    the signature, every chunk's CRC and the IHDR fields."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(tag + body) & 0xFFFFFFFF == crc, tag
        chunks.setdefault(tag, b"")
        chunks[tag] += body
        pos += 12 + length
    assert b"IEND" in chunks
    w, h, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == h * (w + 1)
    lines = np.frombuffer(raw, np.uint8).reshape(h, w + 1)
    assert (lines[:, 0] == 0).all()
    return lines[:, 1:]


class Report(HTMLParser):
    """Tables (as lists of rows of cell texts), images and anything external."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self.external, self.headings = [], [], [], []
        self._cell = None
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(attrs)
        elif tag in ("h2", "h3"):
            self._in_heading = ""
        for name in ("src", "href"):
            if name in attrs and not attrs[name].startswith(("data:", "#")):
                self.external.append(attrs[name])
        if tag == "link" or (tag == "script" and "src" in attrs):
            self.external.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(self._cell)
            self._cell = None
        elif tag in ("h2", "h3"):
            self.headings.append(self._in_heading)
            self._in_heading = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._in_heading is not False:
            self._in_heading += data


def image_of(src: str) -> tuple[str, bytes]:
    head, payload = src.split(",", 1)
    assert head.startswith("data:") and head.endswith(";base64")
    return head[5:-7], base64.b64decode(payload, validate=True)


# ---------------------------------------------------------------- pictures


def test_png_round_trip():
    grey = np.arange(6 * 4, dtype=np.uint8).reshape(6, 4) * 10
    assert np.array_equal(decode_png(pictures.png(grey)), grey)
    big = decode_png(pictures.png(grey, scale=3))
    assert big.shape == (18, 12) and np.array_equal(big[::3, ::3], grey)


def test_svg_curves_parse():
    svg = pictures.svg_curves([("a & b", [(1, 97.0), (2, 98.5)]), ("c", [(1, 96.0)])])
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert len(root.findall(f"{ns}polyline")) == 1  # one series has a single point: a dot
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "a & b" in texts and "epoch" in texts


# ---------------------------------------------------------------- formats


def test_csv_has_every_epoch_of_every_run(store, rows, made):
    text = tables.to_csv(store, rows)
    lines = list(csv.DictReader(io.StringIO(text)))
    assert tuple(lines[0].keys()) == tables.CSV_FIELDS
    per_run = {}
    for line in lines:
        per_run.setdefault(int(line["run"]), []).append(line)
    expected = made.relu + [made.two_conv] + made.members + [made.vote, made.unfinished]
    assert sorted(per_run) == sorted(expected)
    for run_id in expected:
        epochs = store.epochs(run_id)
        got = per_run[run_id]
        assert len(got) == max(1, len(epochs))
        for line, e in zip(got, epochs):
            assert int(line["epoch"]) == e.epoch
            assert float(line["val_acc"]) == pytest.approx(e.val_acc)
            assert float(line["seconds"]) == pytest.approx(e.seconds)
            assert (line["test_acc"] == "") == (e.test_acc is None)
    vote = per_run[made.vote][0]
    assert vote["kind"] == "ensemble" and vote["epoch"] == ""
    assert float(vote["test_at_best"]) == pytest.approx(95.0)
    assert vote["members"] == " ".join(map(str, made.members))


def test_json_holds_rows_runs_and_epochs(store, rows, made):
    def no_nan(value):
        raise AssertionError(f"{value} in JSON")

    doc = json.loads(tables.to_json(store, rows), parse_constant=no_nan)
    assert doc["accuracy_unit"] == "percent" and doc["columns"] == report.COLUMN_KEYS
    relu = next(r for r in doc["rows"] if r["kind"] == "repeats")
    assert relu["runs"] == made.relu and relu["best_run"] == made.relu[1]
    assert relu["test"] == pytest.approx(99.2) and relu["sd"] == pytest.approx(0.1)
    assert relu["diff"] == pytest.approx(-0.03)
    runs = {r["run"]: r for r in doc["runs"]}
    assert len(runs[made.relu[0]]["epochs"]) == 2
    assert runs[made.relu[0]]["epochs"][1]["val_acc"] == pytest.approx(99.0)
    assert runs[made.relu[0]]["config"]["train"]["eta"] == 0.03
    assert [m["index"] for m in runs[made.vote]["mistakes"]] == [5, 6, 7, 8, 9]


def test_markdown_table(rows):
    text = tables.to_markdown(rows)
    lines = text.splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[:1] + lines[2:])
    assert set(lines[1]) <= set("|-:")
    assert len({line.count("|") for line in lines}) == 1
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] == ["#", "preset", "runs"] and "status" in header  # one run is interrupted
    relu = next(line for line in lines if "| relu " in line and "1–3" in line)
    assert "99.20" in relu and "-0.03" in relu and "99.20 ± 0.10" in relu


def test_html_report_is_self_contained_with_table_curves_filters_and_mistakes(store, rows, made):
    page = Report()
    page.feed(html_export.to_html(store, rows))
    assert page.external == []
    table = page.tables[0]
    assert [c.strip() for c in table[0]] == [c.header for c in report.COLUMNS]
    assert len(table) == 1 + len(rows)
    assert any(r[1] == "relu" and r[7] == "99.20" for r in table[1:])
    kinds = {}
    for img in page.images:
        mime, data = image_of(img["src"])
        kinds.setdefault(mime, []).append((img.get("alt", ""), data))
    (svg,) = kinds["image/svg+xml"]
    root = ElementTree.fromstring(svg[1].decode("utf-8"))
    assert root.tag.endswith("svg") and len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) >= 4
    pngs = kinds["image/png"]
    filters = [data for alt, data in pngs if alt.startswith("filters")]
    digits = [data for alt, data in pngs if alt.startswith("test digit")]
    assert len(filters) == len(rows)  # every row's best run stored filters
    assert decode_png(filters[0]).shape == (6 * 11, 6 * 59)  # 20 filters, 10 a row, 6× each pixel
    assert len(digits) == 5  # the vote's five mistakes (the other rows' runs made none)
    digit = decode_png(digits[0])
    assert digit.shape == (56, 56)
    with Store(made.path) as s:
        first = s.mistakes(made.vote)[0]
    assert np.array_equal(digit[::2, ::2], 255 - first.image)  # ink drawn dark
    assert any("misclassified" in h for h in page.headings)


def test_html_report_says_when_a_run_has_no_weights_to_look_inside(store, rows, made):
    """The hand-made runs keep no trained weights and a checkpoint that is no
    checkpoint: their mistakes get one line each instead of the network's view."""
    text = html_export.to_html(store, rows)
    assert f"Most confident mistakes of run {made.vote}: run " in text and "checkpoint cannot be read" in text
    assert "confident mistake of run" not in text and "could not be computed" not in text


# ---------------------------------------------------------------- the CLI


def test_cli_export_each_format(made, run_cli, tmp_path):
    for fmt in ("csv", "json", "md", "html"):
        out = tmp_path / f"report.{fmt}"
        result = run_cli("export", "--store", made.path, "-o", out)
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 200
    assert len(list(csv.DictReader(open(tmp_path / "report.csv", encoding="utf-8")))) >= 12
    assert json.loads((tmp_path / "report.json").read_text())["rows"]
    stdout = run_cli("export", str(made.two_conv), "--format", "md", "--store", made.path)
    assert stdout.returncode == 0 and stdout.stdout.count("\n") == 3 and "two-conv" in stdout.stdout
    only = run_cli("export", "--preset", "ensemble", "--format", "csv", "-o", "-", "--store", made.path)
    assert {line["preset"] for line in csv.DictReader(io.StringIO(only.stdout))} == {"ensemble"}


def test_cli_export_errors_are_one_line(made, run_cli, tmp_path):
    store = ("--store", made.path)
    assert_user_error(run_cli("export", "--format", "pdf", "-o", tmp_path / "x.pdf", *store), "--format pdf")
    assert_user_error(run_cli("export", "-o", tmp_path / "x.txt", *store), "cannot tell the format")
    assert_user_error(run_cli("export", "-o", tmp_path / "no" / "such" / "x.html", *store), "cannot write")
    assert_user_error(run_cli("export", "999", "-o", tmp_path / "x.md", *store), "run 999 does not exist")
    assert_user_error(run_cli("export", "--format", "md", "--store", tmp_path / "empty.sqlite"), "nothing to export")


HOSTILE = {
    "formula": "=cmd|' /C calc'!A0",
    "plus": "+1+1",
    "at": "@SUM(A1:A9)",
    "minus": "-2+3",
    "html": "<svg/onload=alert(2)>",
    "pipe": "a|b\nc",
}


def test_hostile_names_are_inert_in_every_export(tmp_path, run_cli):
    """Names that a spreadsheet would run (=cmd|…) or a Markdown viewer would
    render (<svg onload>) come out as text: CSV cells start with a quote,
    Markdown cells are HTML-escaped, JSON has no bare NaN."""
    from convlab.config.spec import parse_text

    from helpers import toml_text
    from report_fixtures import add_run

    path = tmp_path / "h.sqlite"
    layers = [{"type": "fc", "n_out": 30}, {"type": "softmax"}]
    with Store(path) as s:
        for name in HOSTILE.values():
            spec = parse_text(toml_text(layers, {"epochs": 1}, name=name, title=name))
            add_run(s, spec, s.create_group(spec), 0, [(90.0, 89.0, 1.0)])
        s.db.execute("UPDATE epochs SET train_loss=? WHERE run_id=1", (float("nan"),))
    table = list(csv.DictReader(io.StringIO(run_cli("export", "--format", "csv", "--store", path).stdout)))
    names = {r["preset"] for r in table}
    assert names == {"'" + v if v[0] in "=+-@" else v for v in HOSTILE.values()}
    assert {r["title"] for r in table} == names
    md = run_cli("export", "--format", "md", "--store", path).stdout
    assert "<svg" not in md and "&lt;svg/onload=alert(2)&gt;" in md and "a\\|b\\nc" in md
    assert len(md.strip().splitlines()) == 2 + len(HOSTILE)  # the newline in a name did not break the table
    doc = json.loads(
        run_cli("export", "--format", "json", "--store", path).stdout,
        parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON export"),
    )
    assert doc["runs"][0]["epochs"][0]["train_loss"] is None


def test_the_validation_loss_travels_into_csv_json_and_html(tmp_path):
    """An epoch with a validation loss and one stored before store version 3
    (none): the CSV column and JSON field hold the loss (rounded to 6 places)
    or stay empty; the HTML epoch table shows it."""
    from convlab.config.spec import parse_text

    from helpers import toml_text
    from report_fixtures import add_run

    path = tmp_path / "loss.sqlite"
    spec = parse_text(toml_text([{"type": "fc", "n_out": 30}, {"type": "softmax"}], {"epochs": 2}, name="loss"))
    with Store(path) as s:
        add_run(
            s, spec, s.create_group(spec), 0, [(90.0, 89.0, 1.0), (91.0, 90.0, 1.0)], val_losses=[None, 0.1234567891]
        )
        rows = report.compare(s)
        table = list(csv.DictReader(io.StringIO(tables.to_csv(s, rows))))
        doc = json.loads(tables.to_json(s, rows))
        page = html_export.to_html(s, rows)
    assert [r["val_loss"] for r in table] == ["", "0.123457"]
    assert list(table[0]).index("val_loss") == list(table[0]).index("val_acc") + 1
    assert [e["val_loss"] for e in doc["runs"][0]["epochs"]] == [None, 0.123457]
    assert "<th>validation loss</th>" in page and "<td>0.1235</td>" in page


# ---------------------------------------------------------------- the HTML report's figures


SVG = "{http://www.w3.org/2000/svg}"


def y_scale(root) -> tuple[list[float], list[float], callable]:
    """The y-axis tick labels, their gridlines' y, and value → y fitted through them."""
    frame = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == "none")
    x0 = float(frame.get("x"))
    labels = [
        (float(t.text), float(t.get("y")) - 4)
        for t in root.iter(f"{SVG}text")
        if t.get("text-anchor") == "end" and float(t.get("x")) < x0
    ]
    grid = [float(line.get("y1")) for line in root.iter(f"{SVG}line") if line.get("stroke") == "#e5e5e5"]
    values, ys = zip(*labels)
    slope = (ys[-1] - ys[0]) / (values[-1] - values[0])
    return list(values), grid, lambda v: ys[0] + (v - values[0]) * slope


def test_y_axis_labels_name_their_gridlines():
    svg = pictures.svg_curves([("a", [(1, 81.0), (2, 86.0), (3, 92.0)])])
    values, grid, to_y = y_scale(ElementTree.fromstring(svg))
    assert len(values) >= 4 and len(set(values)) == len(values)
    steps = {round(b - a, 6) for a, b in zip(values, values[1:])}
    assert len(steps) == 1  # 80.0, 82.5, 85.0, 87.5: each label is its gridline's value
    assert [to_y(v) for v in values] == pytest.approx(grid, abs=0.15)
    labels = [t.text for t in ElementTree.fromstring(svg).iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert "82.5" in labels and "82" not in labels
    assert pictures._decimals(2.5) == 1 and pictures._decimals(0.25) == 2 and pictures._decimals(5.0) == 0


def report_svg(store, rows) -> ElementTree.Element:
    page = Report()
    page.feed(html_export.to_html(store, rows))
    (svg,) = [image_of(i["src"])[1] for i in page.images if image_of(i["src"])[0] == "image/svg+xml"]
    return ElementTree.fromstring(svg.decode("utf-8"))


def test_curves_have_the_book_line_and_a_mean_sd_band_for_repeats(store, made):
    rows = report.compare(store, made.relu)
    root = report_svg(store, rows)
    _, _, to_y = y_scale(root)
    (book,) = [line for line in root.iter(f"{SVG}line") if line.get("class") == "book"]
    assert float(book.get("y1")) == pytest.approx(to_y(99.23), abs=0.15)
    assert any(t.text == "book, relu: 99.23%" for t in root.iter(f"{SVG}text"))
    (band,) = [p for p in root.iter(f"{SVG}polygon") if p.get("class") == "band"]
    corners = [tuple(map(float, p.split(","))) for p in band.get("points").split()]
    # epochs 1 and 2 of runs A, B, C: validation 98.0/98.5/99.2 and 99.0/99.4/99.1
    for epoch, values in ((1, [98.0, 98.5, 99.2]), (2, [99.0, 99.4, 99.1])):
        mean, sd = np.mean(values), np.std(values, ddof=1)
        xs = sorted({x for x, _ in corners})
        at = sorted(y for x, y in corners if x == xs[epoch - 1])
        assert at == pytest.approx([to_y(mean + sd), to_y(mean - sd)], abs=0.15)
    single = report_svg(store, report.compare(store, [made.two_conv]))
    assert not [p for p in single.iter(f"{SVG}polygon") if p.get("class") == "band"]


def test_each_row_has_its_confusion_matrix(store, rows, made):
    page = Report()
    page.feed(html_export.to_html(store, rows))
    matrices = [t for t in page.tables if len(t) == 11 and [c.strip() for c in t[0]] == [""] + list("0123456789")]
    finished = [r for r in rows if store.predictions((r.vote or r.best).id) is not None]
    assert len(matrices) == len(finished) == len(rows) - 1  # the interrupted run has no predictions
    vote_heading = next(h for h in page.headings if h.startswith(f"Confusion matrix of run {made.vote}:"))
    assert "95 of 100 right" in vote_heading
    vote = matrices[[r.kind for r in finished].index("ensemble")]
    cells = np.array([[0 if c in ("·", "") else int(c.replace(",", "")) for c in line[1:]] for line in vote[1:]])
    assert cells.sum() == 100 and np.trace(cells) == 95
    with Store(made.path) as s:
        for m in s.mistakes(made.vote):
            assert cells[m.label, m.predicted] >= 1


def test_sort_values_are_plain_numbers_or_text(store, rows):
    import re

    text = html_export.to_html(store, rows)
    values = re.findall(r'data-v="([^"]*)"', text)
    assert values and not [v for v in values if "(" in v or "&#x27;" in v or "'" in v]
    data = [v for v in values if v.startswith(("plain ", "expanded "))]
    assert data and all(re.fullmatch(r"(plain|expanded) \d{12}", v) for v in data)
    assert all(len(v) < 12 for v in values if re.fullmatch(r"-?\d+\.\d+", v))  # no 0.2600000000000051
