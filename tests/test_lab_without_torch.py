"""The lab never loads torch for its everyday work: opening it, browsing the
runs, watching one, the compare view and an ensemble vote stored from it. Run
in a fresh interpreter, so that no other test's import of torch counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCRIPT = r"""
import asyncio, json, sys
sys.path[:0] = [HERE, HERE + "/tui"]
from report_fixtures import make_store
from tui_helpers import wait_until
from convlab.data.mnist import load_mnist
made = make_store(STORE, load_mnist().test)

from textual.widgets import DataTable
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.compare import CompareScreen
from convlab.tui.screens.run import RunScreen

seen = []

async def main():
    app = ConvlabApp(store=STORE)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        runs = app.screen.query_one("#runs", DataTable)
        runs.focus()
        await pilot.press("down", "down", "up", "w")  # browse, then watch a run
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen), timeout=10)
        seen.append(type(app.screen).__name__)
        await pilot.press("escape")
        await pilot.pause()
        app.screen.query_one("#runs", DataTable).focus()
        await pilot.press("c")  # compare every run
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), timeout=10)
        screen = app.screen
        seen.append(type(screen).__name__)
        table = screen.query_one(DataTable)
        table.move_cursor(row=0)
        await pilot.press("space", "down", "space", "e")  # vote with the marked rows' runs
        await wait_until(pilot, lambda: len([r for r in screen.rows if r.kind == "ensemble"]) == 2, timeout=60)
        seen.append(sorted(r.key for r in screen.rows))

asyncio.run(main())
print(json.dumps({"torch": "torch" in sys.modules, "seen": seen}))
"""


def test_opening_browsing_comparing_and_voting_never_import_torch(tmp_path):
    store = tmp_path / "runs.sqlite"
    code = SCRIPT.replace("HERE", repr(str(HERE))).replace("STORE", repr(str(store)))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["seen"][:2] == ["RunScreen", "CompareScreen"]
    assert len([k for k in out["seen"][2] if k.startswith("vote-")]) == 2  # the fixture's vote and the new one
    assert out["torch"] is False
