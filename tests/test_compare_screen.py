"""The compare screen with Pilot, on a store of hand-made runs: the table and
its sorting (header click and key), marking, the config differences of two
rows, the overlaid curves, and an ensemble built from marked runs."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import DataTable, Static

from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.compare import CompareScreen

from report_fixtures import make_store


class Host(ConvlabApp):
    """The lab, opened on the compare view (which uses the lab's store)."""

    def __init__(self, store, screen: CompareScreen):
        super().__init__(store=str(store))
        self.compare = screen

    def on_mount(self) -> None:
        super().on_mount()  # pushes the home screen
        self.call_after_refresh(self.push_screen, self.compare)


def row_keys(table: DataTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


def column(table: DataTable, key: str) -> list[str]:
    return [str(table.get_cell(k, key)) for k in row_keys(table)]


async def until(pilot, condition, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        await pilot.pause(0.1)


async def opened(pilot, screen: CompareScreen) -> None:
    """The compare view is on top and has read its rows (however loaded the machine)."""
    await until(pilot, lambda: pilot.app.screen is screen and screen._shown is not None)


@pytest.fixture
def made(tmp_path, mnist):
    # MNIST's own test set, so that an ensemble built in the screen can vote
    return make_store(tmp_path / "runs.sqlite", mnist.test)


def test_table_sorting_marks_diff_curves_and_ensemble(made):
    async def scenario():
        screen = CompareScreen()
        app = Host(made.path, screen)
        async with app.run_test(size=(180, 50)) as pilot:
            await opened(pilot, screen)
            table = screen.query_one(DataTable)
            # the chapter's order (two-conv is row 4, relu 6, the ensemble 11), then run ids
            assert row_keys(table) == ["run-4", "group-1", "run-9", "vote-8"]
            assert column(table, "test") == ["98.80", "99.20", "96.90", "99.95"]

            # a click on a header sorts by it; a second click reverses
            index = list(table.columns).index("test")
            region = table._get_column_region(index)
            await pilot.click(DataTable, offset=(region.x + 1, 0))
            await pilot.pause()
            assert column(table, "test") == ["96.90", "98.80", "99.20", "99.95"]
            region = table._get_column_region(index)
            await pilot.click(DataTable, offset=(region.x + 1, 0))
            await pilot.pause()
            assert column(table, "test") == ["99.95", "99.20", "98.80", "96.90"]
            assert "▼" in str(table.columns["test"].label)
            # keys: s moves to the next column, r reverses
            await pilot.press("s", "r")
            assert screen.sort_key == "book" and screen.reverse
            assert column(table, "book")[:3] == ["99.67", "99.23", "99.23"]

            # mark two rows: their config differences and their curves
            await pilot.press("s", "s")  # Δ book, then mean: back to a known order below
            screen.sort_by("row", False)
            await pilot.pause()
            table.move_cursor(row=0)
            await pilot.press("space", "down", "space")
            await pilot.pause()
            assert column(table, "mark")[:2] == ["●", "●"]
            diff = str(screen.query_one("#compare-diff", Static).render())
            assert "train.eta" in diff and "0.1  →  0.03" in diff
            drawn = str(screen.query_one("#compare-legend", Static).render())  # the legend, off the curves
            assert "two-conv (run 4)" in drawn and "relu (run 2)" in drawn and "ensemble" not in drawn

            # e: the ensemble of the marked rows' runs (two-conv + three relu) is stored and shown
            await pilot.press("e")
            await until(pilot, lambda: any(k.startswith("vote-") and k != "vote-8" for k in row_keys(table)))
            new = next(k for k in row_keys(table) if k.startswith("vote-") and k != "vote-8")
            assert screen.marked == {new}
            with Store(made.path) as store:
                vote = store.run(int(new.split("-")[1]))
            assert vote.kind == "ensemble" and vote.members == [1, 2, 3, 4]
            assert vote.test_at_best == pytest.approx(100.0)

            # nothing finished to vote with: a warning, no new run
            screen.marked = {"run-9"}
            await pilot.press("e")
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, CompareScreen)

    asyncio.run(scenario())


def test_chosen_runs_only(made):
    async def scenario():
        screen = CompareScreen([made.relu[0], made.relu[1], made.two_conv])
        async with Host(made.path, screen).run_test(size=(160, 40)) as pilot:
            await opened(pilot, screen)
            table = screen.query_one(DataTable)
            assert row_keys(table) == ["run-4", "group-1"]
            assert column(table, "runs") == ["4", "1–2"]
            # chosen runs arrive marked, every row's curve drawn
            assert screen.marked == {"run-4", "group-1"}
            drawn = str(screen.query_one("#compare-legend", Static).render())
            assert "two-conv (run 4)" in drawn and "relu (run 2)" in drawn

    asyncio.run(scenario())


def test_empty_store_keys_do_nothing_harmful(tmp_path):
    async def scenario():
        screen = CompareScreen()
        async with Host(tmp_path / "empty.sqlite", screen).run_test(size=(120, 30)) as pilot:
            await opened(pilot, screen)
            await pilot.press("space", "enter", "s", "r", "e")
            await pilot.pause()
            assert screen.query_one(DataTable).row_count == 0
            assert str(screen.query_one("#compare-info", Static).render()).startswith("0 rows")

    asyncio.run(scenario())


def test_a_change_made_elsewhere_shows_through_the_labs_change_counter(made):
    """Another connection (a run in another shell) finishes run 9: the row says so."""

    async def scenario():
        screen = CompareScreen()
        async with Host(made.path, screen).run_test(size=(160, 40)) as pilot:
            await opened(pilot, screen)
            table = screen.query_one(DataTable)
            before = column(table, "status")[row_keys(table).index("run-9")]
            assert before != "finished"
            with Store(made.path) as other:
                other.finish(9, "finished")
            await until(pilot, lambda: column(table, "status")[row_keys(table).index("run-9")] == "finished")

    asyncio.run(scenario())
