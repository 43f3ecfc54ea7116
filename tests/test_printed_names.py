"""What the screen and the files show (issue 22, items 10–12): escape codes in
names reach neither the terminal nor the files as bytes, long names and notes
are cut, a name too long for a file is one line, and exported cells are never
formulas, controls or live Markdown images."""

from __future__ import annotations

import csv
import dataclasses
import io

from convlab.config.spec import load
from convlab.store import Store
from convlab.term.text import IN_LINE_WIDTH, NOTE_WIDTH

from helpers import assert_user_error, toml_text
from report_fixtures import add_run

ESCAPES = "\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\nsecond line"
CONTROLS = "\x1b\x07"
TINY = [{"type": "conv_pool", "maps": 2}, {"type": "fc", "n_out": 8}, {"type": "softmax", "n_out": 10}]


def no_controls(text: str) -> bool:
    return not any(c in text for c in CONTROLS)


def test_a_sweep_prints_a_hostile_name_escaped(run_cli, tmp_path):
    (tmp_path / "h.toml").write_text(toml_text(TINY, {"activation": "relu", "epochs": 1, "eta": 0.1}, name=ESCAPES))
    done = run_cli("sweep", "h.toml", "--set", "train.lmbda=0,1", "--train-limit", "100", "--workers", "1")
    assert done.returncode == 0, done.stderr
    summary = done.stdout[done.stdout.index("\nsweep 1") :]
    assert "\\x1b[31mRED" in summary and "\\nsecond line" in summary
    assert no_controls(done.stdout) and "\nsecond line" not in done.stdout
    compared = run_cli("compare", "--sweep", "1")
    assert compared.returncode == 0 and no_controls(compared.stdout)
    assert compared.stdout.splitlines()[0].startswith("sweep 1: \\x1b[31mRED")
    for fmt in ("md", "csv", "html"):
        exported = run_cli("export", "--sweep", "1", "--format", fmt)
        assert exported.returncode == 0 and no_controls(exported.stdout), fmt


def test_long_names_and_notes_are_cut_and_a_long_argument_is_one_line(run_cli, tmp_path):
    store = tmp_path / "convlab.sqlite"
    with Store(store) as s:
        relu = load("relu").with_train(epochs=1)
        run = add_run(s, dataclasses.replace(relu, name="n" * 200_000, title="t" * 200_000), None, 0, [(98, 97, 1.0)])
        s.set_note(run, "a note " * 20_000)
    shown = run_cli("show", str(run))
    assert shown.returncode == 0, shown.stderr
    longest = max(map(len, shown.stdout.splitlines()))
    assert longest <= NOTE_WIDTH + 10 and "n" * IN_LINE_WIDTH not in shown.stdout
    assert "…" in shown.stdout.splitlines()[0]
    for args in (("run",), ("sweep", "--set", "train.lmbda=0")):
        assert_user_error(run_cli(*args, "a" * 5000), "no such preset")

    (tmp_path / "long.toml").write_text(toml_text(TINY, {"activation": "relu", "epochs": 1}, name="L" * 5000))
    trained = run_cli("run", "long.toml", "--train-limit", "100")
    assert trained.returncode == 0, trained.stderr
    assert "L" * (IN_LINE_WIDTH + 1) not in trained.stdout and "L" * (IN_LINE_WIDTH - 1) + "…" in trained.stdout


def test_exported_cells_are_never_formulas_controls_or_images(run_cli, tmp_path):
    store = tmp_path / "convlab.sqlite"
    hostile = {
        ' =HYPERLINK("http://x","y")': "' =HYPERLINK",
        "\n=1+1": "'\n=1+1",
        "\t@SUM(1)": "'\\t@SUM",
        "\x1b[31mred": "\\x1b[31mred",
    }
    with Store(store) as s:
        relu = load("relu").with_train(epochs=1)
        ids = [add_run(s, dataclasses.replace(relu, name=n), None, 0, [(98, 97, 1.0)]) for n in hostile]
        image = add_run(s, dataclasses.replace(relu, name="![img](http://example.com/x.png)"), None, 0, [(98, 97, 1.0)])
    exported = run_cli("export", "--format", "csv")
    assert exported.returncode == 0 and no_controls(exported.stdout)
    presets = {int(r["run"]): r["preset"] for r in csv.DictReader(io.StringIO(exported.stdout))}
    for run_id, (name, start) in zip(ids, hostile.items()):
        assert presets[run_id].startswith(start), (name, presets[run_id])
    markdown = run_cli("export", "--format", "md").stdout
    assert "![img](" not in markdown and "!\\[img\\](http://example.com/x.png)" in markdown
    assert no_controls(markdown)
    assert image


def test_wide_characters_keep_the_columns_in_line(run_cli, tmp_path):
    """実験 takes four terminal cells, not two: the columns after it stay in line (#21 item 12)."""
    from rich.cells import cell_len

    with Store(tmp_path / "convlab.sqlite") as s:
        relu = load("relu").with_train(epochs=1)
        for name in ("実験", "relu"):
            add_run(s, dataclasses.replace(relu, name=name), None, 0, [(98, 97, 1.0)])
    listed = run_cli("runs")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()[:3]
    starts = [cell_len(line[: line.index("1/1")]) for line in lines[1:]]  # the epochs column, in cells
    assert starts[0] == starts[1] == cell_len(lines[0][: lines[0].index("epochs")])
