"""Tags in the lab: the runs table shows each run's tags beside its preset,
and a tag given from another shell (`convlab tag`) appears while the lab runs."""

from __future__ import annotations

from convlab.store import Store
from convlab.tui.app import ConvlabApp

from tui_helpers import run_async, screen_text, wait_until


@run_async
async def test_tags_show_in_the_runs_table_and_follow_the_store(seeded_store):
    with Store(seeded_store) as store:
        store.set_tags([1], add=["baseline"])
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert "relu #baseline" in screen_text(app)
        with Store(seeded_store) as other:  # as `convlab tag sweep 4` in another shell
            other.set_tags([4], add=["sweep"])

        def tagged():
            """two-conv #sweep on the home screen"""
            return "two-conv #sweep" in screen_text(app)

        await wait_until(pilot, tagged)
