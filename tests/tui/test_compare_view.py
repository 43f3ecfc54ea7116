"""The compare view from the lab: runs marked on the home screen arrive
marked; the legend stays off the curves at 80×24; `?` opens help, which has a
section for it; the palette finds Export, and `o` writes what is on screen."""

from __future__ import annotations

import csv
import json

from convlab.tui.app import ConvlabApp
from convlab.tui.screens.compare import CompareScreen
from convlab.tui.screens.help import HelpScreen
from convlab.tui.widgets.tables import RunTable

from tui_helpers import run_async, screen_text, wait_until


async def _compare_marked(pilot, rows: int) -> CompareScreen:
    """Mark the first `rows` runs of the home screen's table (space), then c."""
    table = pilot.app.screen.query_one(RunTable)
    table.focus()
    table.move_cursor(row=0)
    for _ in range(rows):
        await pilot.press("space", "down")
    await pilot.press("c")
    screen = pilot.app.screen
    assert isinstance(screen, CompareScreen)
    await wait_until(pilot, lambda: screen.rows, timeout=10)
    return screen


@run_async
async def test_runs_marked_on_home_arrive_marked_with_the_legend_off_the_curves(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _compare_marked(pilot, 2)  # runs 4 (two-conv) and 3 (relu)
        assert screen.marked == {r.key for r in screen.rows} and len(screen.marked) == 2
        await pilot.pause()
        text = screen_text(app)
        assert "0 marked" not in text and "Differences" in text
        legend = str(screen.query_one("#compare-legend").render())
        assert "two-conv (run 4)" in legend and "relu (run 3)" in legend
        plot = screen.query_one("#compare-curves")
        r = plot.region
        plot_rows = [line[r.x : r.x + r.width] for line in text.splitlines()[r.y : r.y + r.height]]
        assert not any("run 4" in line or "run 3" in line for line in plot_rows)  # no label over the curves


@run_async
async def test_help_from_the_compare_view_has_its_keys(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.rows, timeout=10)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help Static").render())
        assert "Compare view" in text and "Write what is on screen as HTML, CSV, JSON or Markdown" in text
        await pilot.press("escape")
        assert isinstance(app.screen, CompareScreen)


async def written(app, pilot) -> None:
    """The export's file is written by a worker thread: wait for it, then for its message."""
    await app.workers.wait_for_complete()
    await pilot.pause()


@run_async
async def test_the_palette_finds_export_and_o_writes_what_is_on_screen(seeded_store, tmp_path):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 40)) as pilot:
        assert "Export runs…" in [c.title for c in app.get_system_commands(app.screen)]
        screen = await _compare_marked(pilot, 2)
        assert "Export…" in [c.title for c in app.get_system_commands(screen)]
        for name, check in (("out.csv", _csv_has_runs_3_and_4), ("out.json", _json_has_two_rows)):
            await pilot.press("o")
            field = app.screen.query_one("#name")
            field.value = name
            await pilot.press("enter")
            assert app.screen is screen
            await written(app, pilot)
            assert check(tmp_path / name)
        said = [n.message for n in app._notifications]
        assert f"Wrote 2 rows as JSON to {tmp_path / 'out.json'}" in said  # and where
        await pilot.press("o")
        app.screen.query_one("#name").value = "no-suffix"  # refused in the dialog's words, not the CLI's
        await pilot.press("enter")
        said = screen_text(app)
        assert "end the name with .html, .csv, .json or .md" in said and "--format" not in said
        # an existing file is replaced only when Save is pressed again (#21 item 8)
        (tmp_path / "out.csv").write_text("keep me")
        app.screen.query_one("#name").value = "out.csv"
        await pilot.press("enter")
        assert "out.csv exists; press Save again to replace it" in screen_text(app)
        assert (tmp_path / "out.csv").read_text() == "keep me"
        await pilot.press("enter")
        assert app.screen is screen
        await written(app, pilot)
        assert _csv_has_runs_3_and_4(tmp_path / "out.csv")
        # from the palette on another screen: the compare view of every run, its export dialog open
        await pilot.press("escape")
        app.compare(None, export=True)
        await wait_until(pilot, lambda: app.screen.query("#name"), timeout=10)
        app.screen.query_one("#name").value = "all.html"
        await pilot.press("enter")
        await written(app, pilot)
        assert (tmp_path / "all.html").read_text().startswith("<!DOCTYPE html>")


def _csv_has_runs_3_and_4(path) -> bool:
    with open(path, newline="") as f:
        return {row["run"] for row in csv.DictReader(f)} == {"3", "4"}


def _json_has_two_rows(path) -> bool:
    return len(json.loads(path.read_text())["rows"]) == 2
