"""`convlab search --ray` on a real local Ray cluster (2 CPUs) started here: the
search's trials train as Ray tasks, the launcher writes every row, a pruned
trial's task is cancelled after the epoch the pruner named, and the search
ends with the same trials, figures and verdicts as the same search trained here."""

from __future__ import annotations

import os

import pytest

from helpers import DATA, toml_text

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'nndl-convlab[ray]'")
pytest.importorskip("optuna", reason="the search extra: pip install 'nndl-convlab[search]'")

from convlab.runs import search, sweep  # noqa: E402
from convlab.runs.ray_backend import RayBackend  # noqa: E402
from convlab.runs.runner import Runner  # noqa: E402
from convlab.store import Store  # noqa: E402

pytestmark = pytest.mark.slow
TINY = [{"type": "conv_pool", "maps": 2}, {"type": "softmax", "n_out": 10}]


def _trials(store: Store, sweep_id: int) -> list[tuple]:
    _, rows = sweep.table(store, sweep_id)
    return [(row.fields, [(r.status, r.epochs_done, r.best_val, r.test_at_best) for r in row.runs]) for row in rows]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def test_a_search_on_ray_matches_the_same_search_here(cluster, tmp_path, single_thread):
    preset = tmp_path / "tiny.toml"
    preset.write_text(toml_text(TINY, {"activation": "relu", "epochs": 2, "eta": 0.1}, name="tiny"))
    params = (search.parse_param("train.eta=log:0.001..1"), search.parse_param("train.lmbda=0..5"))
    definition = search.Search(str(preset), params, trials=4, sampler="random", prune="asha", seed=12)
    changes = {"train_limit": 200}
    quiet = lambda text: None  # noqa: E731

    on_ray = Store(tmp_path / "ray.sqlite")
    runner = Runner(on_ray, device="cpu", data_dir=str(DATA), backend=RayBackend("auto"), workers=2)
    ray_id = search.start(on_ray, runner, definition, changes, batch=2, say=quiet)
    here = Store(tmp_path / "here.sqlite")
    local_id = search.start(
        here, Runner(here, device="cpu", data_dir=str(DATA), workers=1), definition, changes, 2, quiet
    )

    assert {r.pid for r in on_ray.runs()} == {os.getpid()}  # the launcher wrote every row
    assert all("ray" in r.device for r in on_ray.runs()) and len(on_ray.runs()) == 4
    assert on_ray.sweep(ray_id)["status"] == "finished"
    for run in on_ray.runs():  # a pruned task's later events were dropped: its epochs end at the verdict
        assert [e.epoch for e in on_ray.epochs(run.id)] == list(range(1, run.epochs_done + 1))
    assert _trials(on_ray, ray_id) == _trials(here, local_id)
    assert [r.status for r in on_ray.runs()].count("pruned") == 2  # seed 12: round 2 falls behind round 1
