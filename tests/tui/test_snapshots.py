"""Snapshots of the main screens at 80×24 and 160×48, from a store of
hand-made runs with fixed values and times (see tui_helpers.seed_store).
Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import pytest

from convlab.tui.app import ConvlabApp
from convlab.tui.screens.run import RunScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def _app(store: str) -> ConvlabApp:
    return ConvlabApp(store=store)


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare, seeded_store, size):
    assert snap_compare(_app(seeded_store), terminal_size=size, press=["down", "down"])


@pytest.mark.parametrize("size", SIZES)
def test_live_view_of_a_finished_run(snap_compare, seeded_store, size):
    async def open_run(pilot):
        pilot.app.push_screen(RunScreen(run_id=1))
        await pilot.pause()

    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=open_run, press=["2"])


@pytest.mark.parametrize("size", SIZES)
def test_live_view_of_a_run_training_elsewhere(snap_compare, seeded_store, size):
    async def open_run(pilot):
        pilot.app.push_screen(RunScreen(run_id=3))
        await pilot.pause()

    assert snap_compare(_app(seeded_store), terminal_size=size, run_before=open_run)


def test_live_view_confusion_panel(snap_compare, seeded_store):
    async def open_run(pilot):
        pilot.app.push_screen(RunScreen(run_id=1))
        await pilot.pause()

    assert snap_compare(_app(seeded_store), terminal_size=(80, 24), run_before=open_run, press=["3", "y"])


def test_editor_with_an_error(snap_compare, seeded_store):
    async def break_it(pilot):
        await pilot.press("down", "down", "e")
        area = pilot.app.screen.query_one("#toml")
        area.load_text(area.text.replace("eta = 0.03", "eta = -1"))
        await pilot.press("ctrl+g")  # the cursor to the line of the error

    assert snap_compare(_app(seeded_store), terminal_size=(80, 24), run_before=break_it)


def test_settings_form(snap_compare, seeded_store):
    assert snap_compare(_app(seeded_store), terminal_size=(80, 24), press=["down", "down", "enter"])


def test_help(snap_compare, seeded_store):
    assert snap_compare(_app(seeded_store), terminal_size=(80, 24), press=["question_mark"])
