"""The lab's view of a search (convlab search): a real search trained into the
store (4 trials on 200 images, two pruned after their first epoch) is shown by
the sweep view with its ranges and its trials pruned, and its pruned runs are
*pruned* in the home screen's runs table."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from convlab.runs import search
from convlab.runs.runner import Runner
from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.sweep import SweepScreen
from convlab.tui.widgets.tables import RunTable

from helpers import DATA, toml_text
from tui_helpers import run_async, screen_text

pytest.importorskip("optuna", reason="the search extra: pip install 'nndl-convlab[search]'")


@pytest.mark.slow  # trains 4 trials first: about 25 s on a shared CPU
@run_async
async def test_a_search_shows_its_ranges_and_pruned_trials(tmp_path, single_thread):
    preset = tmp_path / "tiny.toml"
    layers = [{"type": "conv_pool", "maps": 2}, {"type": "softmax", "n_out": 10}]
    preset.write_text(toml_text(layers, {"activation": "relu", "epochs": 2, "eta": 0.1}, name="tiny"))
    params = (search.parse_param("train.eta=log:0.001..1"), search.parse_param("train.lmbda=0..5"))
    definition = search.Search(str(preset), params, trials=4, sampler="random", prune="asha", seed=12)
    store = Store(tmp_path / "runs.sqlite")
    runner = Runner(store, device="cpu", data_dir=str(DATA), workers=1)
    sweep_id = search.start(store, runner, definition, {"train_limit": 200}, batch=2, say=lambda s: None)
    pruned = [r.id for r in store.runs() if r.status == "pruned"]
    assert len(pruned) == 2  # seed 12: the second round falls behind the first at epoch 1

    app = ConvlabApp(store=str(tmp_path / "runs.sqlite"))
    async with app.run_test(size=(160, 40)) as pilot:
        runs = app.screen.query_one(RunTable)
        await pilot.pause()
        status = [c.key.value for c in runs.ordered_columns].index("status")  # after any swept columns
        assert {str(runs.get_row(str(run_id))[status]) for run_id in pruned} == {"pruned"}
        app.show_sweep(sweep_id)
        await pilot.pause()
        assert isinstance(app.screen, SweepScreen)
        text = screen_text(app)
        assert f"search {sweep_id} · tiny · train.eta log:0.001..1, train.lmbda 0..5" in text
        assert "2 finished, 2 pruned of 4" in text
        table = app.screen.query_one(DataTable)
        statuses = [str(table.get_row_at(i)[-1]) for i in range(table.row_count)]
        assert statuses.count("pruned at epoch 1") == 2 and statuses.count("finished") == 2
