"""The lab's view of a sweep: a real sweep trained into the store (2 points,
one epoch on 100 images), shown as its table and its curves, reachable from
the command palette, with its own keys (watch a point, compare, export, help);
the swept fields as columns of the runs and compare tables; and a sweep, or a
search, started from the lab's forms."""

from __future__ import annotations

import csv
import signal

from textual.widgets import DataTable

from convlab.runs import sweep
from convlab.runs.runner import Runner
from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.commands import lab_commands
from convlab.tui.screens.compare import CompareScreen
from convlab.tui.screens.help import HelpScreen
from convlab.tui.screens.run import RunScreen
from convlab.tui.screens.sweep import SearchSetupScreen, SweepScreen, SweepSetupScreen
from convlab.tui.widgets.tables import RunTable

from helpers import DATA, toml_text
from tui_helpers import run_async, screen_text, wait_until


@run_async
async def test_a_sweep_shows_its_table_and_curves(tmp_path, single_thread):
    preset = tmp_path / "small.toml"
    preset.write_text(
        toml_text(
            [{"type": "conv_pool", "maps": 2}, {"type": "softmax", "n_out": 10}],
            {"activation": "relu", "epochs": 2, "eta": 0.1},
            name="small",
        )
    )
    store = Store(tmp_path / "runs.sqlite")
    definition = sweep.Sweep(str(preset), (sweep.parse_set("train.eta=0.05,0.2"),), seed=1)
    sweep_id = sweep.start(
        store, Runner(store, device="cpu", data_dir=str(DATA), workers=1), definition, {"train_limit": 100}
    )
    app = ConvlabApp(store=str(tmp_path / "runs.sqlite"))
    async with app.run_test(size=(120, 40)) as pilot:
        names = [c.title for c in lab_commands(app, app.screen)]
        assert f"Sweep {sweep_id}" in names
        app.show_sweep(sweep_id)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        table = screen.query_one(DataTable)
        assert [str(c.label) for c in table.columns.values()][0] == "train.eta"
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["0.05", "0.2"]
        _, rows = sweep.table(store, sweep_id)
        assert [str(table.get_row_at(i)[4]) for i in range(2)] == [f"{r.test:.2f}" for r in rows]
        text = screen_text(app)
        assert "2/2 points finished" in text
        assert "train.eta=0.05" in text and "train.eta=0.2" in text  # a curve per point, in the legend
        assert "validation accuracy" in text
        await _the_sweep_keys(pilot, screen, rows, tmp_path)
        await pilot.press("escape")
        assert not isinstance(app.screen, SweepScreen)
        # home: the points' runs tell apart by their swept field, a column of its own
        runs = app.screen.query_one(RunTable)
        await pilot.pause()
        assert "eta" in [str(c.label) for c in runs.columns.values()]
        assert sorted(str(runs.get_row(str(r.runs[0].id))[4]) for r in rows) == ["0.05", "0.2"]


async def _the_sweep_keys(pilot, screen: SweepScreen, rows, tmp_path) -> None:
    """⏎ watches the selected point's best run, ? has the sweep's keys, c compares
    the sweep's runs (the swept field a column), o exports its table."""
    app = pilot.app
    screen.query_one(DataTable).focus()
    await pilot.press("down", "enter")
    assert isinstance(app.screen, RunScreen) and app.screen.run_id == rows[1].best.id
    await pilot.press("escape", "question_mark")
    assert isinstance(app.screen, HelpScreen)
    assert "Sweep view" in str(app.screen.query_one("#help Static").render())
    await pilot.press("escape", "c")
    compare = app.screen
    assert isinstance(compare, CompareScreen)
    await wait_until(pilot, lambda: compare.rows, timeout=10)
    headers = [str(c.label) for c in compare.query_one(DataTable).columns.values()]
    assert headers[headers.index("preset") + 1] == "eta"
    await pilot.pause()
    assert "small eta=0.05 (run" in screen_text(app) and "small eta=0.2 (run" in screen_text(app)  # the legend
    await pilot.press("escape", "o")
    app.screen.query_one("#name").value = "points.csv"
    await pilot.press("enter")
    assert app.screen is screen
    with open(tmp_path / "points.csv", newline="") as f:
        assert [line["train.eta"] for line in csv.DictReader(f)] == ["0.05", "0.2"]


@run_async
async def test_the_sweep_form_checks_the_grid_and_launches_a_sweep(tmp_path):
    """ctrl+p → Sweep tiny…: a field that is not one is refused in the form;
    two values of η become a `convlab sweep` job whose two points train."""
    store_path = str(tmp_path / "runs.sqlite")
    app = ConvlabApp(store=store_path)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            form = await _open_form(pilot, "Sweep tiny…", SweepSetupScreen)
            await _fill(pilot, form, axes="train.nope=1,2")
            assert "nope" in screen_text(app) and "✗" in screen_text(app)
            await _fill(pilot, form, axes="train.eta=0.05,0.1", epochs="1", train_limit="100", seed="3")
            assert "2 points, 2 runs × 1 epoch × 100 images" in screen_text(app)
            await _launch_and_wait(pilot, "sweep", 2)
    finally:
        _kill_jobs(app)
    store = Store(store_path)
    (record,) = store.sweeps()
    _, rows = sweep.table(store, record["id"])
    assert [r.fields for r in rows] == [{"train.eta": 0.05}, {"train.eta": 0.1}]
    assert all(r.status == "finished" and r.runs[0].seed == 3 for r in rows)


@run_async
async def test_the_search_form_checks_the_ranges_and_launches_a_search(tmp_path):
    """ctrl+p → Search tiny…: an empty range and an unknown pruner are refused in
    the form; three random trials of η become a `convlab search` job whose
    trials train, and ctrl+p → Search N shows its table."""
    store_path = str(tmp_path / "runs.sqlite")
    app = ConvlabApp(store=store_path)
    app.launcher.workers = 1  # one trial at a time: each sees those before it
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            form = await _open_form(pilot, "Search tiny…", SearchSetupScreen)
            await _fill(pilot, form, params="train.eta=0.3..0.1")
            assert "✗" in screen_text(app) and "the range is empty" in screen_text(app)
            await _fill(pilot, form, params="train.eta=log:0.01..0.3", prune="sometimes")
            assert "sometimes: not a pruner" in screen_text(app)
            await pilot.press("ctrl+l")
            assert app.screen is form and not app.launcher.jobs  # refused: nothing queued
            await _fill(
                pilot, form, prune="none", trials="3", sampler="random", epochs="1", train_limit="100", seed="4"
            )
            assert "3 trials × 1 epoch × 100 images; random, no pruning" in screen_text(app)
            await _launch_and_wait(pilot, "search", 1)
            (record,) = Store(store_path).sweeps()
            await _open_form(pilot, f"Search {record['id']}", SweepScreen)
            assert "3 finished, 0 pruned of 3" in screen_text(app)
    finally:
        _kill_jobs(app)
    assert record["search"]["sampler"] == "random" and record["seed"] == 4
    _, rows = sweep.table(Store(store_path), record["id"])
    etas = [r.fields["train.eta"] for r in rows]
    assert len(rows) == 3 and all(0.01 <= eta <= 0.3 for eta in etas) and len(set(etas)) == 3
    assert all(r.status == "finished" for r in rows)


async def _open_form(pilot, title: str, kind: type):
    """The screen the palette's command `title` opens: a form, or a sweep's view."""
    commands = {c.title: c for c in lab_commands(pilot.app, pilot.app.screen)}
    commands[title].callback()
    await pilot.pause()
    assert isinstance(pilot.app.screen, kind)
    return pilot.app.screen


async def _fill(pilot, form, **values: str) -> None:
    for name, value in values.items():
        form.query_one(f"#{name}").value = value
    await pilot.pause()


async def _launch_and_wait(pilot, verb: str, slots: int) -> None:
    """ctrl+l closes the form and queues one `convlab VERB` job, which trains to the end."""
    form = pilot.app.screen
    await pilot.press("ctrl+l")
    assert pilot.app.screen is not form
    job = pilot.app.launcher.jobs[-1]
    assert job.verb == verb and job.slots == slots
    await wait_until(pilot, lambda: job.state in ("finished", "failed"), timeout=180)
    assert job.state == "finished", job.error


def _kill_jobs(app) -> None:
    for job in app.launcher.jobs:
        if job.process is not None and job.process.returncode is None:
            job.process.send_signal(signal.SIGKILL)
