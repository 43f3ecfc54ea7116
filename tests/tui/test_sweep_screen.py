"""The lab's view of a sweep: a real sweep trained into the store (2 points,
one epoch on 100 images), shown as its table and its curves, and reachable
from the command palette."""

from __future__ import annotations

from textual.widgets import DataTable

from convlab.runs import sweep
from convlab.runs.runner import Runner
from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.commands import lab_commands
from convlab.tui.screens.sweep import SweepScreen

from helpers import DATA, toml_text
from tui_helpers import run_async, screen_text


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
        assert [table.get_row_at(i)[0] for i in range(table.row_count)] == ["0.05", "0.2"]
        _, rows = sweep.table(store, sweep_id)
        assert [table.get_row_at(i)[4] for i in range(2)] == [f"{r.test:.2f}" for r in rows]
        text = screen_text(app)
        assert "2/2 points finished" in text
        assert "train.eta=0.05" in text and "train.eta=0.2" in text  # a curve per point, in the legend
        assert "validation accuracy" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, SweepScreen)
