"""Key-to-frame latency of the lab: from a key reaching the app to the first
frame of the screen it opens (help, then the live view again), in milliseconds,
against the target of 100 ms. Alternates two sessions in one process: the lab
idle, and the lab while a tiny run trains on the CPU in its own process.

    .venv/bin/python bench/bench_keys.py               # 20 presses per session
    .venv/bin/python bench/bench_keys.py --presses 40

The same measure in a real terminal (tmux, with busy loops beside it) is bench/lab_latency.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TUI_TESTS = HERE.parent / "tests" / "tui"
TARGET_MS = 100.0


async def session(store_path: str, presses: int, training: bool) -> list[float]:
    from convlab.store import Store
    from convlab.tui.app import ConvlabApp
    from convlab.tui.screens.help import HelpScreen
    from convlab.tui.screens.run import RunScreen

    from tui_helpers import key_to_frame, wait_until

    app = ConvlabApp(store=store_path)
    times: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        job = None
        if training:
            store = Store(store_path)
            job = app.launcher.launch("tiny", epochs=50, train_limit=5000)
            await wait_until(pilot, lambda: job.run_ids and store.run(job.run_ids[0]).progress, timeout=120)
            app.push_screen(RunScreen(job=job))
        await pilot.pause()
        back = RunScreen if training else type(app.screen)
        for key, screen_type in [("question_mark", HelpScreen), ("escape", back)] * (presses // 2):
            times.append(await key_to_frame(app, key, screen_type, timeout=60) * 1000)
            await pilot.pause(0.05)
        if job is not None:
            app.launcher.cancel(job)
            await wait_until(pilot, lambda: not job.active, timeout=60)
    return times


def report(label: str, times: list[float]) -> str:
    median = statistics.median(times)
    return (
        f"{label:<22} median {median:6.1f} ms  max {max(times):6.1f} ms over {len(times)} presses; "
        f"target {TARGET_MS:.0f} ms; ratio {median / TARGET_MS:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="idle/training pairs, alternated")
    args = parser.parse_args()
    sys.path.insert(0, str(TUI_TESTS))
    work = Path(tempfile.mkdtemp(prefix="convlab-bench-keys-"))
    try:
        shutil.copytree(TUI_TESTS / "presets", work / "presets")
        os.environ["CONVLAB_PRESETS"] = str(work / "presets")  # the tiny network of the lab's tests
        idle: list[float] = []
        busy: list[float] = []
        for i in range(args.rounds):
            idle += asyncio.run(session(str(work / f"idle{i}.sqlite"), args.presses, training=False))
            busy += asyncio.run(session(str(work / f"busy{i}.sqlite"), args.presses, training=True))
        print(report("idle lab:", idle))
        print(report("while a run trains:", busy))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
