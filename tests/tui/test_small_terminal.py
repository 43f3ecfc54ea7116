"""The lab at 80×24 (issue 21, items 6 and 7): every footer keeps `? Help` and
`q Quit`, modal screens show their own keys (ctrl+r on the run settings), a
misclassified digit's labels sit above its picture, the compare table leaves
out whole columns rather than cut Δ book, and the presets table shows 250k whole."""

from __future__ import annotations

import re
import shutil

from textual.widgets._footer import FooterKey

from convlab.config.paths import SHIPPED, presets_dir
from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.compare import CompareScreen
from convlab.tui.screens.dialogs import SaveAsScreen
from convlab.tui.screens.run import RunScreen
from convlab.tui.screens.settings import SettingsScreen

from tui_helpers import run_async, screen_text, select_preset, wait_until

SIZE = (80, 24)


def _footer(app) -> str:
    return screen_text(app).splitlines()[-1]


def _visible_keys(screen) -> dict[str, FooterKey]:
    width = screen.app.size.width
    return {k.action: k for k in screen.query(FooterKey) if k.display and k.region.right <= width and k.region.width}


@run_async
async def test_the_live_view_keeps_help_and_quit_in_its_footer(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        app.watch_run(1)
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.current_run, timeout=10)
        await pilot.pause(0.3)
        footer = _footer(app)
        assert "? Help" in footer and "q Quit" in footer, footer
        assert {"app.help", "app.quit_lab", "back"} <= set(_visible_keys(app.screen))
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.3)
        assert "x Cancel" in _footer(app) and "r Resume" in _footer(app)  # the keys hidden at 80 come back


@run_async
async def test_the_run_settings_show_their_own_keys_with_ctrl_r(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await select_preset(pilot, "relu")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await pilot.pause(0.3)
        footer = _footer(app)
        assert "^r Preset's values" in footer and "^l Launch" in footer and "esc Cancel" in footer, footer
        assert "e Edit" not in footer and "Resume" not in footer  # not the home screen's keys


@run_async
async def test_the_export_dialog_shows_its_own_keys(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.rows, timeout=10)
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveAsScreen))
        await pilot.pause(0.3)
        footer = _footer(app)
        assert "esc Cancel" in footer and "Sort" not in footer, footer


@run_async
async def test_a_misclassified_digit_shows_both_labels_at_80x24(seeded_store):
    first = Store(seeded_store).mistakes(1)[0]
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        app.watch_run(1)
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.current_run, timeout=10)
        await pilot.press("2")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert re.search(rf"#{first.index}\s+true {first.label}\s+net {first.predicted}", text), text


@run_async
async def test_the_compare_table_keeps_delta_book_whole_at_80x24(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.rows, timeout=10)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "Δ book" in text and "-0.73" in text and "-0.18" in text, text
        assert "status" not in text.splitlines()[1]  # left out whole, not cut
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.3)
        assert "status" in screen_text(app).splitlines()[1]


@run_async
async def test_the_presets_table_shows_250k_whole_at_80x24(seeded_store):
    for preset in (SHIPPED / "presets").glob("*.toml"):  # the chapter's: long names, a scrollbar
        shutil.copy(preset, presets_dir())
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=SIZE) as pilot:
        await select_preset(pilot, "extra-fc-1000")
        await pilot.pause(0.5)
        text = screen_text(app)
        assert re.search(r"extra-fc-1000\s+99\.47\s+(?:[\d,]+\s+)?250k\b", text), text
