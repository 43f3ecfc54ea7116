"""The compare screen's legend shows a preset name's escape codes as text
(issue 22, item 10): `\\x1b[31m` and an OSC title sequence never reach the terminal."""

from __future__ import annotations

import dataclasses

from convlab.config.spec import load
from convlab.store import Store
from convlab.tui.app import ConvlabApp

from report_fixtures import add_run
from tui_helpers import run_async, screen_text

ESCAPES = "\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\nsecond line"


@run_async
async def test_the_compare_legend_shows_escape_codes_as_text(tmp_path, fixed_world):
    path = tmp_path / "h.sqlite"
    with Store(path) as store:
        relu = load("relu").with_train(epochs=2)
        add_run(store, dataclasses.replace(relu, name=ESCAPES), None, 0, [(98.0, 97.0, 1.0), (98.5, 97.5, 1.0)])
    app = ConvlabApp(store=str(path))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        app.compare(None)
        await pilot.pause()
        legend = str(app.screen.query_one("#compare-legend").render())
        assert "\\x1b[31mRED" in legend and "\\x07\\nsecond line" in legend
        assert not any(c in legend for c in "\x1b\x07\n")
        assert "\x1b" not in screen_text(app) and "\x07" not in screen_text(app)
