"""The run settings form: keys typed faster than the app renders land in the
field that had focus when each was pressed; the summary says what will run;
the form remembers the last values; a saved preset is the user's own."""

from __future__ import annotations

from convlab.tui.app import ConvlabApp
from convlab.tui.screens.settings import SettingsScreen

from tui_helpers import burst, run_async, screen_text, select_preset


@run_async
async def test_keys_typed_while_the_app_is_busy_land_in_their_fields(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await select_preset(pilot, "relu")
        await pilot.press("enter")
        form = app.screen
        assert isinstance(form, SettingsScreen)
        # All keys are queued before the app handles the first: a busy machine, or a paste.
        await burst(pilot, ["2", *["tab"] * 6, "1", "tab", *"3000"])
        assert form.query_one("#epochs").value == "2"
        assert form.query_one("#repeats").value == "1"
        assert form.query_one("#train_limit").value == "3000"


@run_async
async def test_keys_typed_right_after_enter_go_to_the_form_it_opens(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await select_preset(pilot, "relu")
        await burst(pilot, ["enter", "4", "tab", "tab", "1"])
        form = app.screen
        assert isinstance(form, SettingsScreen)
        assert form.query_one("#epochs").value == "4"
        assert form.query_one("#lmbda").value == "1"


@run_async
async def test_the_form_says_what_will_run_and_how_long_before_launch(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await select_preset(pilot, "relu")
        await pilot.press("enter")
        await burst(pilot, ["2", *["tab"] * 6, "1", "tab", *"3000"])
        # Every seeded relu run took 41.5 s an epoch on 50,000 images: 3,000 images take 2.49 s,
        # and evaluating 20,000 digits at three times the training pace 5.53 s more.
        assert "✓ will run: 1 run × 2 epochs × 3,000 images" in screen_text(app)
        assert "≈ 16s on cuda (at the pace of run 3, evaluation included)" in screen_text(app)  # the newest
        app.screen.query_one("#device").value = "cpu"
        await pilot.pause()
        assert "≈ 16s on cpu (at the pace of run 2, evaluation included)" in screen_text(app)
        app.screen.query_one("#device").value = "mps"
        await pilot.pause()
        assert "time: not known until this network has trained an epoch on mps" in screen_text(app)


@run_async
async def test_the_form_remembers_the_last_values_launched(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await select_preset(pilot, "relu")
        await pilot.press("enter")
        await burst(pilot, ["2", *["tab"] * 6, "1", "tab", *"3000"])
        form = app.screen
        remembered = form.values()
        form.action_launch()  # the launch itself is tested in test_live
        await pilot.pause()
        app.launcher.cancel(app.screen.job)
        await pilot.press("escape")
        await pilot.press("enter")
        form = app.screen
        assert isinstance(form, SettingsScreen)
        assert form.values() == remembered and "last values used" in screen_text(app)
        await pilot.press("ctrl+r")  # the preset's own values back
        assert form.query_one("#epochs").value == "60" and form.query_one("#train_limit").value == ""
    # and in the next session too
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await select_preset(pilot, "relu")
        await pilot.press("enter")
        assert app.screen.query_one("#train_limit").value == "3000"
