"""The live view's device line (issue 19): a run that trains on a GPU box
shows, at a glance, how it trains, on which card, how full the card got and
how fast it goes; a run stored without device figures shows no such line."""

from __future__ import annotations

from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.run import RunScreen

from tui_helpers import run_async, screen_text, wait_until


def _device_figures(path: str) -> None:
    """Run 3 of the seeded store (training on "gpu-box") as a captured batched run records it."""
    store = Store(path)
    store.set_path(3, "captured, batched 3", "NVIDIA H100 80GB HBM3")
    with store.db:
        store.db.execute(
            "UPDATE runs SET peak_memory=?, versions=? WHERE id=3",
            (3_456_000_000, '{"torch": "2.5.1", "cuda": "12.4"}'),
        )
    store.close()


@run_async
async def test_the_live_view_shows_the_device_figures_of_a_run_training_elsewhere(seeded_store):
    _device_figures(seeded_store)
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        pilot.app.push_screen(RunScreen(run_id=3))
        await wait_until(pilot, lambda: "NVIDIA H100" in screen_text(app))
        line = next(x for x in screen_text(app).splitlines() if "NVIDIA H100" in x)
        # the images per second of the epoch under way (its progress row), the card's peak
        assert "captured, batched 3 on NVIDIA H100 80GB HBM3 · torch 2.5.1, CUDA 12.4 · peak memory 3.5 GB" in line
        assert "9,876 images/s" in line or "9,877 images/s" in line
        pilot.app.pop_screen()
        pilot.app.push_screen(RunScreen(run_id=1))  # stored without them: no line
        await wait_until(pilot, lambda: "run 1" in screen_text(app))
        assert "peak memory" not in screen_text(app)
