"""Pilot tests that train: a tiny network (six 5×5 filters, 300 images) in a
real `convlab run` subprocess, launched, watched, cancelled and resumed from
the lab; a run started by another process; and the responsiveness of the UI
while a run trains."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.help import HelpScreen
from convlab.tui.screens.home import HomeScreen
from convlab.tui.screens.run import RunScreen
from convlab.tui.screens.settings import SettingsScreen
from convlab.tui.widgets.confusion import ConfusionMatrix
from convlab.tui.widgets.curve import CurvePlot
from convlab.tui.widgets.pictures import FilterGrid, MistakeGallery
from convlab.tui.widgets.tables import PresetTable, RunTable

from tui_helpers import key_to_frame, run_async, screen_text, wait_until


def stop_jobs(app: ConvlabApp) -> None:
    """A failed test must not leave training processes behind."""
    for job in app.launcher.jobs:
        if job.process is not None and job.process.returncode is None:
            job.process.send_signal(signal.SIGKILL)


async def _open_settings(pilot, name: str) -> SettingsScreen:
    table = pilot.app.screen.query_one(PresetTable)
    table.focus()
    while not table.selected_key.endswith(f"/{name}.toml"):
        await pilot.press("down")
    await pilot.press("enter")
    assert isinstance(pilot.app.screen, SettingsScreen)
    return pilot.app.screen


@run_async
async def test_launch_a_tiny_run_and_watch_it_learn(empty_store):
    app = ConvlabApp(store=empty_store)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            form = await _open_settings(pilot, "tiny")
            form.query_one("#seed").value = "1"
            await pilot.press("ctrl+l")
            screen = app.screen
            assert isinstance(screen, RunScreen)
            job = screen.job
            await wait_until(pilot, lambda: job.state == "finished", timeout=120)
            await wait_until(pilot, lambda: screen.query_one(MistakeGallery).mistakes, timeout=5)
            assert screen.query_one(CurvePlot).points == 2
            # each epoch's validation loss, measured by the real engine, reaches the plot
            val_loss = screen.query_one(CurvePlot).val_loss
            assert val_loss.epochs == [1, 2] and all(0 < v < 2.31 for v in val_loss.values)
            assert screen.query_one(FilterGrid).filters.shape[0] == 6
            assert screen.query_one(MistakeGallery).shown > 0
            assert screen.query_one(ConfusionMatrix).matrix.sum() == 10_000
            text = screen_text(app)
            assert "finished 2 epochs" in text and "6 filters of 5×5 after epoch 2" in text
    finally:
        stop_jobs(app)
    run = Store(empty_store).run(job.run_ids[0])
    assert run.status == "finished" and run.seed == 1 and run.epochs_done == 2


@run_async
async def test_cancel_makes_a_run_interrupted_and_resume_continues_it(empty_store):
    app = ConvlabApp(store=empty_store)
    store = Store(empty_store)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            form = await _open_settings(pilot, "tiny")
            form.query_one("#epochs").value = "50"
            await pilot.press("ctrl+l")
            screen = app.screen
            job = screen.job
            await wait_until(pilot, lambda: job.run_ids and store.run(job.run_ids[0]).progress, timeout=90)
            run_id = job.run_ids[0]
            await pilot.press("x")
            await wait_until(pilot, lambda: job.state == "interrupted", timeout=30)
            assert store.run(run_id).status == "interrupted"
            await wait_until(pilot, lambda: "press r to resume" in screen_text(app), timeout=5)

            await pilot.press("r")  # resume: the same run claims the device again
            resumed = screen.job
            assert resumed is not job and resumed.resumes == run_id
            assert "resuming after epoch" in screen_text(app) and "interrupted" not in screen_text(app)
            await wait_until(pilot, lambda: resumed.run_ids == [run_id], timeout=90)
            assert store.run(run_id).status == "running"
            await pilot.press("x")
            await wait_until(pilot, lambda: resumed.state == "interrupted", timeout=30)
    finally:
        stop_jobs(app)
    assert store.run(run_id).status == "interrupted"


@run_async
async def test_a_run_started_by_another_process_appears_and_updates(seeded_store):
    app = ConvlabApp(store=seeded_store)
    other = None
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            other = subprocess.Popen(
                [sys.executable, "-m", "convlab", "run", "tiny", "--seed", "2", "--store", seeded_store, "--json"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            runs = app.screen.query_one(RunTable)
            await wait_until(pilot, lambda: "5" in [r.key.value for r in runs.ordered_rows], timeout=90)
            runs.focus()
            runs.move_cursor(row=0)
            await pilot.press("w")
            screen = app.screen
            assert isinstance(screen, RunScreen) and screen.run_id == 5
            await wait_until(pilot, lambda: screen.current_run.status == "finished", timeout=90)
            await wait_until(pilot, lambda: screen.query_one(CurvePlot).points == 2, timeout=5)
            assert screen.query_one(FilterGrid).filters is not None
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)
            assert "finished" in screen_text(app)
        assert other.wait(30) == 0
    finally:
        if other is not None and other.poll() is None:
            other.kill()


@run_async
async def test_keys_change_the_screen_while_a_run_trains(empty_store):
    """While a run trains on the CPU, each key press changes the screen (the
    help screen opens, the live view comes back), 20 times, and the run goes on.
    How fast is a benchmark, not a test: bench/bench_keys.py."""
    app = ConvlabApp(store=empty_store)
    store = Store(empty_store)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            job = app.launcher.launch("tiny", epochs=50, train_limit=5000)
            await wait_until(pilot, lambda: job.run_ids and store.run(job.run_ids[0]).progress, timeout=90)
            app.push_screen(RunScreen(job=job))
            await pilot.pause()
            for key, screen_type in [("question_mark", HelpScreen), ("escape", RunScreen)] * 10:
                await key_to_frame(app, key, screen_type, timeout=60)
                assert isinstance(app.screen, screen_type)
            assert store.run(job.run_ids[0]).status == "running"  # it trained all along
            app.launcher.cancel(job)
            await wait_until(pilot, lambda: not job.active, timeout=30)
    finally:
        stop_jobs(app)


@run_async
async def test_cancel_while_a_run_is_starting_says_cancelled_not_failed(empty_store):
    app = ConvlabApp(store=empty_store)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_settings(pilot, "tiny")
            await pilot.press("ctrl+l")
            job = app.screen.job
            await wait_until(pilot, lambda: job.process is not None, timeout=30)
            await pilot.press("x")  # while it imports torch and loads MNIST
            await wait_until(pilot, lambda: not job.active, timeout=60)
            assert job.state == "cancelled" and not job.run_ids
            await pilot.pause()
            text = screen_text(app)
            assert "cancelled before it started" in text and "failed" not in text
    finally:
        stop_jobs(app)


@run_async
async def test_a_second_run_waits_for_the_device_and_can_leave_the_queue(empty_store):
    app = ConvlabApp(store=empty_store)
    app.launcher.workers = 1  # the settings' "runs at once"
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            first = app.launcher.launch("tiny", epochs=50)
            second = app.launcher.launch("tiny", label="tiny again")
            await pilot.pause()
            assert first.state == "training" and second.state == "waiting"

            def queue_shown():  # the home screen draws its table and the queue's lines a frame or two later
                text = screen_text(app)
                return "waiting for the device: tiny again" in text and "waits for the device" in text

            await wait_until(pilot, queue_shown, timeout=30)
            runs = app.screen.query_one(RunTable)
            runs.focus()
            runs.move_cursor(row=0)  # the waiting job is listed first
            await pilot.press("x")
            assert second.state == "cancelled" and not app.launcher.waiting
            await pilot.press("q")  # quitting asks, since a run trains
            assert type(app.screen).__name__ == "QuitScreen"
            await pilot.press("n")
            assert isinstance(app.screen, HomeScreen)
            app.launcher.cancel(first)
            await wait_until(pilot, lambda: not first.active, timeout=60)
    finally:
        stop_jobs(app)


@run_async
async def test_two_runs_at_once_both_show_and_finish(empty_store):
    """With "runs at once" 2 in the settings, two launches train side by side;
    the home line names both, and both runs end finished in the store."""
    app = ConvlabApp(store=empty_store)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            form = await _open_settings(pilot, "tiny")
            form.query_one("#workers").value = "2"
            form.query_one("#seed").value = "1"
            await pilot.press("ctrl+l")
            await pilot.press("escape")
            first = app.launcher.jobs[0]
            second = app.launcher.launch("tiny", seed=2, label="tiny again")
            assert app.launcher.workers == 2 and app.launcher.running == [first, second]
            await wait_until(pilot, lambda: first.run_id and second.run_id, timeout=120)
            assert isinstance(app.screen, HomeScreen)
            # the home line is redrawn on the app's next tick after the ids arrive
            await wait_until(
                pilot,
                lambda: (
                    f"tiny (run {first.run_id})" in screen_text(app)
                    and f"tiny again (run {second.run_id})" in screen_text(app)
                ),
                timeout=30,
            )
            await wait_until(pilot, lambda: not first.active and not second.active, timeout=180)
            store = Store(empty_store)
            assert {store.run(j.run_id).status for j in (first, second)} == {"finished"}
            assert {store.run(j.run_id).seed for j in (first, second)} == {1, 2}
    finally:
        stop_jobs(app)


@run_async
async def test_quitting_never_starts_a_waiting_run(empty_store):
    """Runs at once 1: one run trains, one waits. Quitting with y (the dialog
    says the waiting one is cancelled) must not start it as the lab closes."""
    app = ConvlabApp(store=empty_store)
    app.launcher.workers = 1
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            first = app.launcher.launch("tiny", epochs=50)
            second = app.launcher.launch("tiny", label="tiny again")
            await wait_until(pilot, lambda: first.run_ids, timeout=90)
            await pilot.press("q")
            await pilot.pause()
            said = " ".join(screen_text(app).split())  # the dialog wraps its lines
            assert "tiny again waits for the device and is cancelled: it will not start" in said
            assert "the next `convlab` does not keep it" in said  # the queue does not outlive the lab (#21 item 1)
            await pilot.press("y")
        await asyncio.sleep(3)  # time for a process started at exit to show
        assert second.process is None and second.state == "cancelled"
        store = Store(empty_store)
        assert [r.id for r in store.runs()] == first.run_ids
    finally:
        stop_jobs(app)
