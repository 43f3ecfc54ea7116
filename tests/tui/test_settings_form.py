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
