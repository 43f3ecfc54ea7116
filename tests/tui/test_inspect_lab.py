"""The lab's inspector and drawing screens (issue 23, item 3) on a real run
trained by the real CLI, with the real helper process answering (the lab
itself never imports torch): Enter on the misclassified digits opens the
inspector and the arrows move through them; the Pilot draws a digit with mouse
events (a drag, a right-drag erasing) and with the keyboard, and the lab shows
the prediction the engine gives for those pixels."""

from __future__ import annotations

import numpy as np
import pytest

from convlab.inspect.session import Inspector
from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.inspector import helper
from convlab.tui.screens.draw import Canvas, DrawScreen
from convlab.tui.screens.inspect import InspectScreen
from convlab.tui.screens.run import RunScreen

from helpers import run_convlab
from tui_helpers import run_async, screen_text, wait_until


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inspect-lab")
    store = folder / "runs.sqlite"
    args = ("run", "relu", "--epochs", "1", "--train-limit", "500", "--seed", "5", "--repeats", "1", "--threads", "1")
    result = run_convlab(*args, cwd=folder, store=store)
    assert result.returncode == 0, result.stderr
    return str(store)


@run_async
async def test_enter_on_the_misclassified_digits_opens_the_inspector(trained_store):
    app = ConvlabApp(store=trained_store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(RunScreen(run_id=1))
        await pilot.pause()
        await pilot.press("2", "enter")
        screen = app.screen
        assert isinstance(screen, InspectScreen)
        with Store(trained_store) as store:
            wrong = [m.index for m in store.mistakes(1)]
            predictions = store.predictions(1)
        assert screen.digits == wrong

        async def shows(n):
            await wait_until(pilot, lambda: screen.answer is not None and screen.answer["source"] == {"digit": n})
            assert screen.answer["predicted"] == screen.answer["stored_prediction"] == int(predictions[n])

        await shows(wrong[0])
        assert f"test digit #{wrong[0]}" in screen_text(app) and "top three:" in screen_text(app)
        await pilot.press("right")
        await shows(wrong[1])
        await pilot.press("2")
        await pilot.pause()
        assert "conv 1: 20 maps of 24×24 after activation" in screen_text(app)
        await pilot.press("a", "right")  # every test digit, from this one on
        await shows(wrong[1] + 1)
        helper(app).close()


@run_async
async def test_the_pilot_draws_a_digit_with_the_mouse_and_gets_a_prediction(trained_store):
    app = ConvlabApp(store=trained_store)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(DrawScreen())
        await pilot.pause()
        screen = app.screen
        canvas = screen.query_one(Canvas)
        assert screen.run_id == 1
        # a drag: the left button down, the pointer moved down a column, released
        await pilot.mouse_down(canvas, offset=(14, 2))
        for y in range(3, 13):
            await pilot.hover(canvas, offset=(14, y))
        await pilot.mouse_up(canvas, offset=(14, 12))
        drawn = canvas.ink.copy()
        assert drawn[4:25, 14].min() == 1.0 and drawn[:, :10].max() == 0.0  # a stroke down column 14
        assert 0 < drawn[10, 13] < 1  # the soft brush's edge
        await wait_until(pilot, lambda: screen.answer is not None and not screen._asking and not screen._dirty)
        answer = screen.answer
        assert "error" not in answer, answer
        with Store(trained_store) as store:
            expected = Inspector(store).pixels(1, np.round(drawn, 3))
        assert answer["predicted"] == expected["predicted"]
        assert np.allclose(answer["probabilities"], expected["probabilities"], atol=1e-3)
        assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-3)
        assert "top three:" in screen_text(app)
        # the right button erases what it drags over
        await pilot.mouse_down(canvas, offset=(14, 6), button=3)
        await pilot.hover(canvas, offset=(14, 7))
        await pilot.mouse_up(canvas, offset=(14, 7))
        assert canvas.ink[12:16, 14].max() == 0.0 and canvas.ink[20, 14] == 1.0
        # the keyboard: arrows move the cursor, space paints
        assert canvas.cursor == (14, 12)  # where the last button went down
        await pilot.press("c", "left", "left", "up", "up", "space")
        assert canvas.ink[10, 12] == 1.0
        assert canvas.ink.sum() == pytest.approx(2 + 6 * 0.35)  # two rows of the soft brush
        await wait_until(pilot, lambda: not screen._asking and not screen._dirty and screen.answer["input"])
        helper(app).close()
