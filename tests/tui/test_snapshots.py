"""Snapshots of every screen at 80×24 and 160×48 (the live view's panels
enlarged too, and home at 60×20), from a store of
hand-made runs with fixed values and times (see tui_helpers.seed_store).
Each waits for the app to settle before the picture (`settled`): no worker
running, no animation scheduled, and no blinking cursor, whose timer would
otherwise change the frame at a moment a loaded machine makes random.
Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import pytest

from convlab.tui.app import ConvlabApp
from convlab.tui.screens.run import RunScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def _app(store: str) -> ConvlabApp:
    app = ConvlabApp(store=store)
    app.launcher.workers = 2  # "runs at once" defaults to the machine's cores; fixed for the picture
    return app


async def settle(pilot) -> None:
    """Wait until nothing pending can change the frame."""
    app = pilot.app
    for _ in range(3):  # a worker's result may start another, or schedule a refresh
        await pilot.wait_for_scheduled_animations()
        await app.workers.wait_for_complete()
        await pilot.pause()
    for widget in app.screen.query("*"):
        if hasattr(widget, "cursor_blink"):  # Input, TextArea: a 0.5 s blink timer
            widget.cursor_blink = False
            widget._cursor_visible = True  # shown steadily, as in the first frame
            widget.refresh()
    await pilot.pause()


def settled(*keys: str, then=None):
    """A run_before: `then(pilot)` if given, the key presses, then settle."""

    async def run_before(pilot) -> None:
        if then is not None:
            await then(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare, seeded_store, size):
    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=settled("down", "down"))


@pytest.mark.parametrize("size", SIZES)
def test_live_view_of_a_finished_run(snap_compare, seeded_store, size):
    async def open_run(pilot):
        pilot.app.push_screen(RunScreen(run_id=1))
        await pilot.pause()

    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=settled("2", then=open_run))


@pytest.mark.parametrize("size", SIZES)
def test_live_view_of_a_run_training_elsewhere(snap_compare, seeded_store, size):
    async def open_run(pilot):
        pilot.app.push_screen(RunScreen(run_id=3))
        await pilot.pause()

    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=settled(then=open_run))


def test_live_view_confusion_panel(snap_compare, seeded_store):
    async def open_run(pilot):
        pilot.app.push_screen(RunScreen(run_id=1))
        await pilot.pause()

    assert snap_compare(_app(seeded_store), terminal_size=(80, 24), run_before=settled("3", "y", then=open_run))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("panel", ["0", "1", "2", "3"])
def test_live_view_enlarged_panel(snap_compare, seeded_store, size, panel):
    async def open_run(pilot):
        pilot.app.push_screen(RunScreen(run_id=1))
        await pilot.pause()

    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=settled(panel, "z", then=open_run))


def test_home_at_60x20(snap_compare, seeded_store):
    assert snap_compare(_app(seeded_store), terminal_size=(60, 20), run_before=settled())


@pytest.mark.parametrize("size", SIZES)
def test_editor_with_an_error(snap_compare, seeded_store, size):
    async def break_it(pilot):
        await pilot.press("down", "down", "e")
        area = pilot.app.screen.query_one("#toml")
        area.load_text(area.text.replace("eta = 0.03", "eta = -1"))
        await pilot.press("ctrl+g")  # the cursor to the line of the error

    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=settled(then=break_it))


@pytest.mark.parametrize("size", SIZES)
def test_settings_form(snap_compare, seeded_store, size):
    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=settled("down", "down", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, seeded_store, size):
    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=settled("question_mark"))


@pytest.mark.parametrize("size", SIZES)
def test_compare_view_of_runs_marked_on_home(snap_compare, seeded_store, size):
    async def mark_two(pilot):
        await pilot.press("tab", "space", "down", "space", "c")  # the runs table: runs 4 and 3
        await pilot.pause()

    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=settled(then=mark_two))
