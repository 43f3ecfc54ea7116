"""Helpers for the lab's tests: a store seeded with hand-made runs (fixed
values, times and hosts), the screen as text, waiting on a condition, and
running an async Pilot test from a plain pytest function."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

import numpy as np

from convlab.config.spec import load
from convlab.store import Mistake, Store

from helpers import epoch_event

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC: every seeded time counts from here


def run_async(test):
    """Run an async test function with asyncio (no pytest plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


def _curve(start: float, end: float, n: int) -> list[float]:
    return [round(start + (end - start) * (1 - np.exp(-3 * i / max(1, n - 1))) / (1 - np.exp(-3)), 2) for i in range(n)]


def _add_epochs(store: Store, run_id: int, values: list[float], rng: np.random.Generator) -> None:
    best, best_epoch, test_at_best = -1.0, 0, None
    for i, val in enumerate(values, start=1):
        test = None
        if val > best:
            best, best_epoch, test = val, i, round(val - 0.07, 2)
            test_at_best = test
        store.add_epoch(
            run_id,
            epoch_event(
                i,
                val,
                train_loss=round(0.9 / i, 4),
                test_acc=test,
                best_val=best,
                best_epoch=best_epoch,
                test_at_best=test_at_best,
                seconds=41.5,
                filters=rng.normal(0, 0.3, (20, 1, 5, 5)).astype(np.float32),
            ),
        )


def _outcome(store: Store, run_id: int, wrong: int, seed: int) -> None:
    """Test predictions with `wrong` fixed digits misclassified (real MNIST images)."""
    from convlab.data.mnist import load_mnist

    test = load_mnist().test
    rng = np.random.default_rng(seed)
    predictions = test.labels.copy()
    idx = np.sort(rng.choice(len(predictions), wrong, replace=False))
    predictions[idx] = (predictions[idx] + rng.integers(1, 10, wrong)) % 10
    store.save_outcome(
        run_id, predictions, [Mistake(int(i), int(test.labels[i]), int(predictions[i]), test.images[i]) for i in idx]
    )


def seed_store(path: Path, presets: Path) -> Path:
    """Four runs: two finished relu runs (one to overlay), one running on another
    machine (mid-epoch), one interrupted two-conv run."""
    store = Store(path)
    rng = np.random.default_rng(0)
    relu, two_conv = load(str(presets / "relu.toml")), load(str(presets / "two-conv.toml"))
    group = store.create_group(relu.with_train(repeats=2, epochs=12))
    for member, (end, wrong) in enumerate(((99.12, 88), (99.05, 95))):
        run = store.create_run(
            relu.with_train(repeats=2, epochs=12), group_id=group, member=member, seed=7 + member, device="cpu"
        )
        _add_epochs(store, run, _curve(97.4 + member * 0.2, end, 12), rng)
        _outcome(store, run, wrong, seed=member)
        store.finish(run, "finished")
    running = store.create_run(relu.with_train(epochs=30), group_id=store.create_group(relu), seed=11, device="cuda")
    _add_epochs(store, running, _curve(97.6, 98.93, 5), rng)
    store.set_progress(running, {"epoch": 6, "batch": 2100, "batches": 5000, "images_per_s": 9876.5, "eta_s": 14.2})
    stopped = store.create_run(
        two_conv.with_train(epochs=20), group_id=store.create_group(two_conv), seed=3, device="cpu"
    )
    _add_epochs(store, stopped, _curve(96.8, 98.4, 3), rng)
    store.finish(stopped, "interrupted", error="stopped by request")
    # Fixed times and hosts: the running run trains on another machine, so it is not marked stale.
    with store.db:
        for run_id, start, end in ((1, 0, 498), (2, 600, 1098), (3, 1200, None), (4, 1900, 2030)):
            store.db.execute(
                "UPDATE runs SET started=?, ended=?, heartbeat=?, host=?, pid=? WHERE id=?",
                (
                    T0 + start,
                    None if end is None else T0 + end,
                    T0 + (end or 1400),
                    "gpu-box" if run_id == 3 else "lab-host",
                    0,
                    run_id,
                ),
            )
    store.close()
    return path


def screen_text(app) -> str:
    """The screen as plain text, as a terminal would show it."""
    return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips())


async def wait_until(pilot, condition, timeout: float = 60.0, step: float = 0.2) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {condition.__doc__ or condition}")
        await pilot.pause(step)


async def key_to_frame(app, key: str, screen_type: type, timeout: float = 5.0) -> float:
    """Seconds from a key press reaching the app to the first frame drawn for
    a screen of `screen_type`: the key goes in as a terminal's would (through
    the driver), and `App._display`, which writes each frame to the terminal,
    is watched for the new screen's first frame."""
    from textual import events

    drawn: list[float] = []
    display = app._display

    def watched(screen, renderable):
        if renderable is not None and isinstance(screen, screen_type) and not drawn:
            drawn.append(time.perf_counter())
        return display(screen, renderable)

    app._display = watched
    try:
        char = {"question_mark": "?", "escape": "\x1b"}.get(key, key if len(key) == 1 else None)
        event = events.Key(key, char)
        event.set_sender(app)
        start = time.perf_counter()
        app._driver.send_message(event)
        while not drawn:
            if time.perf_counter() - start > timeout:
                raise AssertionError(f"no frame of {screen_type.__name__} within {timeout}s of {key}")
            await asyncio.sleep(0.001)
        return drawn[0] - start
    finally:
        del app._display


async def select_preset(pilot, name: str) -> None:
    """Move the presets table's cursor to the preset called `name`."""
    from convlab.tui.widgets.tables import PresetTable

    table = pilot.app.screen.query_one(PresetTable)
    table.focus()
    while table.selected_key is None or not table.selected_key.endswith(f"/{name}.toml"):
        await pilot.press("down")


def key_event(app, key: str):
    from textual import events

    char = {"question_mark": "?", "escape": "\x1b", "space": " ", "tab": "\t"}.get(key, key if len(key) == 1 else None)
    event = events.Key(key, char)
    event.set_sender(app)
    return event


async def burst(pilot, keys: list[str], busy: float = 0.3) -> None:
    """Queue every key at once, as a terminal does when the app is busy (the
    app is held in a blocking call first), then let the app work through them."""
    app = pilot.app
    app.call_later(lambda: time.sleep(busy))
    for key in keys:
        app._driver.send_message(key_event(app, key))
    await pilot.pause(busy)
    for _ in range(len(keys) + 5):
        await pilot.pause()
