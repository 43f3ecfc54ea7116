"""The live view's curve marks where a schedule changed η (issue 24): a line at
each epoch whose η differs from the one before, labelled with the new η, and a
legend entry; a run that kept one η draws none."""

from __future__ import annotations

import numpy as np

from convlab.config.spec import load
from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.run import RunScreen
from convlab.tui.widgets.curve import CurvePlot

from helpers import epoch_event
from tui_helpers import run_async, screen_text


def scheduled_run(path: str) -> int:
    """A run whose η halved after epochs 2 and 3, as halve_on_plateau stores it."""
    with Store(path) as store:
        run_id = store.create_run(load("relu"), group_id=None)
        for epoch, (val, eta) in enumerate(((97.1, 0.03), (98.0, 0.03), (97.9, 0.015), (98.2, 0.0075)), start=1):
            store.add_epoch(
                run_id,
                epoch_event(
                    epoch,
                    val,
                    train_loss=0.5 / epoch,
                    seconds=40.0,
                    learning_rate=eta,
                    filters=np.zeros((20, 1, 5, 5), np.float32),
                ),
            )
    return run_id


@run_async
async def test_the_curve_marks_each_change_of_eta(seeded_store):
    run_id = scheduled_run(seeded_store)
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        app.push_screen(RunScreen(run_id=run_id))
        await pilot.pause()
        curve = app.screen.query_one(CurvePlot)
        assert curve.etas == [(1, 0.03), (2, 0.03), (3, 0.015), (4, 0.0075)]
        text = screen_text(app)
        assert "│ η changes" in text  # the legend, in the title row
        assert "η 0.015" in text and "η 0.0075" in text  # each change labelled
        await pilot.press("l")  # the loss view marks them too
        await pilot.pause()
        assert "η 0.015" in screen_text(app)


@run_async
async def test_a_run_with_one_eta_draws_no_marks(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        app.push_screen(RunScreen(run_id=1))
        await pilot.pause()
        assert app.screen.query_one(CurvePlot).etas == []
        assert "η changes" not in screen_text(app)
