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


@run_async
async def test_the_estimate_counts_runs_at_once_and_too_many_get_a_word(seeded_store):
    """3 repeats, 3 at once take the time of one run (#21 item 8); 2 at once, two
    runs' time; more runs at once than cores is said, not accepted silently."""
    from convlab.config.cores import available_cores

    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await select_preset(pilot, "relu")
        await pilot.press("enter")
        form = app.screen
        for name, value in (("epochs", "2"), ("train_limit", "3000"), ("device", "cpu"), ("repeats", "1")):
            form.query_one(f"#{name}").value = value
        form.query_one("#workers").value = "1"
        await pilot.pause()
        assert "≈ 16s on cpu (at the pace of run 2, evaluation included)" in said(form)  # one run
        form.query_one("#repeats").value = "3"
        form.query_one("#workers").value = "3"
        await pilot.pause()
        assert "≈ 16s on cpu (at the pace of run 2, 3 at once, evaluation included)" in said(form)
        form.query_one("#workers").value = "2"
        await pilot.pause()
        assert "≈ 32s on cpu (at the pace of run 2, 2 at once, evaluation included)" in said(form)
        form.query_one("#workers").value = "99"
        await pilot.pause()
        cores = available_cores()
        assert f"⚠ 99 runs at once on {cores} core{'s' * (cores != 1)}: they share the cores" in said(form)


def said(form) -> str:
    """The form's check line, whole (on screen it wraps at the dialog's width)."""
    return str(form.query_one("#settings-check").render())


@run_async
async def test_options_beyond_the_book_start_off_and_reach_the_launched_preset(seeded_store):
    """Momentum, the η schedule and elastic data (issue 24): off for a book's
    preset; set in the form, they are in the preset the launch trains."""
    from pathlib import Path

    from convlab.config.spec import parse_text

    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await select_preset(pilot, "relu")
        await pilot.press("enter")
        await pilot.press("ctrl+r")  # the preset's own values, whatever an earlier test launched
        form = app.screen
        values = {name: form.query_one(f"#{name}").value for name in ("momentum", "eta_schedule", "data")}
        assert values == {"momentum": "0", "eta_schedule": "fixed", "data": "plain"}
        for name, value in (("epochs", "1"), ("repeats", "1"), ("train_limit", "300"), ("momentum", "0.9")):
            form.query_one(f"#{name}").value = value
        form.query_one("#eta_schedule").value = "halve_on_plateau"
        form.query_one("#data").value = "elastic"
        await pilot.pause()
        assert said(form).startswith("✓ will run: 1 run × 1 epoch × 300 images")
        form.action_launch()
        await pilot.pause()
        job = app.launcher.jobs[-1]
        assert job.label == "relu-custom"
        t = parse_text(Path(job.args[0]).read_text(encoding="utf-8")).train
        app.launcher.cancel(job)
        assert (t.momentum, t.eta_schedule, t.data, t.epochs, t.train_limit) == (
            0.9,
            "halve_on_plateau",
            "elastic",
            1,
            300,
        )


@run_async
async def test_a_bad_momentum_is_one_line_and_nothing_launches(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await select_preset(pilot, "relu")
        await pilot.press("enter")
        form = app.screen
        jobs = len(app.launcher.jobs)
        for value, line in (
            ("1.5", "✗ train.momentum is 1.5; it must be a number from 0 to 0.999"),
            ("fast", "✗ momentum is 'fast'; it must be a number"),
        ):
            form.query_one("#momentum").value = value
            await pilot.pause()
            assert said(form) == line
            await pilot.press("ctrl+l")
            assert app.screen is form and len(app.launcher.jobs) == jobs
        form.query_one("#momentum").value = "0.5"
        await pilot.pause()
        assert said(form).startswith("✓ will run")
