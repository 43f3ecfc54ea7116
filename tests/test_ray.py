"""The Ray backend against a real local Ray cluster (2 CPUs) started here: a
small sweep runs on it and lands in the store with the same figures as on
local workers; a Ray worker killed mid-run leaves an interrupted run that
resumes from its last epoch. Remote workers never open the store: the
launcher (this process) writes every row."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import DATA, cli_command, cli_env, toml_text

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'nndl-convlab[ray]'")

from convlab.config.spec import load  # noqa: E402
from convlab.runs import events, sweep  # noqa: E402
from convlab.runs.ray_backend import RayBackend  # noqa: E402
from convlab.runs.runner import Runner  # noqa: E402
from convlab.store import Store  # noqa: E402

pytestmark = pytest.mark.slow
TINY = [{"type": "conv_pool", "maps": 2}, {"type": "softmax", "n_out": 10}]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(toml_text(TINY, {"activation": "relu", "epochs": 2, "eta": 0.1}, name="tiny"))
    return path


def _figures(store: Store, sweep_id: int) -> list:
    _, rows = sweep.table(store, sweep_id)
    return [
        (
            row.fields,
            [
                (
                    r.seed,
                    r.status,
                    r.best_val,
                    r.test_at_best,
                    [(e.epoch, e.val_acc, e.test_acc) for e in store.epochs(r.id)],
                    store.predictions(r.id).tobytes(),
                    len(store.mistakes(r.id)),
                )
                for r in row.runs
            ],
        )
        for row in rows
    ]


def test_a_sweep_on_ray_lands_in_the_store_as_on_local_workers(cluster, tmp_path, tiny):
    definition = sweep.Sweep(str(tiny), (sweep.parse_set("train.lmbda=0,1"),), repeats=1, seed=3)
    seen: list[events.Event] = []
    on_ray = Store(tmp_path / "ray.sqlite")
    backend = RayBackend()
    runner = Runner(on_ray, device="cpu", data_dir=str(DATA), emit=seen.append, backend=backend)
    sweep_id = sweep.start(on_ray, runner, definition, {"train_limit": 200})
    started = [e for e in seen if isinstance(e, events.Started)]
    assert len(started) == 2 and all(backend.workers[e.run].pid != os.getpid() for e in started)
    assert {r.pid for r in on_ray.runs()} == {os.getpid()}  # the launcher wrote every row
    assert all(r.status == "finished" and "ray" in r.device for r in on_ray.runs())
    assert all(on_ray.filters(r.id) is not None and on_ray.checkpoint(r.id)[0] == 2 for r in on_ray.runs())

    here = Store(tmp_path / "here.sqlite")
    local_id = sweep.start(
        here, Runner(here, device="cpu", data_dir=str(DATA), workers=1), definition, {"train_limit": 200}
    )
    assert _figures(on_ray, sweep_id) == _figures(here, local_id)


def test_a_killed_ray_worker_leaves_a_resumable_run(cluster, tmp_path, tiny):
    store = Store(tmp_path / "runs.sqlite")
    killed: list[int] = []
    backend = RayBackend()

    def emit(event: events.Event) -> None:
        if isinstance(event, events.Epoch) and event.epoch == 1 and not killed:
            killed.append(event.run)
            os.kill(backend.workers[event.run].pid, signal.SIGKILL)

    spec = load(str(tiny)).with_train(epochs=4, train_limit=300)
    runner = Runner(store, device="cpu", data_dir=str(DATA), emit=emit, backend=backend)
    with pytest.raises(RuntimeError, match="a Ray worker died"):
        runner.start(spec, seed=1)
    run = store.run(killed[0])
    assert run.status == "interrupted" and 1 <= run.epochs_done < 4 and store.checkpoint(run.id) is not None

    seen: list[events.Event] = []
    Runner(store, device="cpu", data_dir=str(DATA), emit=seen.append, backend=RayBackend()).resume(run.id)
    assert [e.resumed_from for e in seen if isinstance(e, events.Started)] == [run.epochs_done]
    run = store.run(run.id)
    assert run.status == "finished" and run.epochs_done == 4
    assert [e.epoch for e in store.epochs(run.id)] == [1, 2, 3, 4]


def _training_on_ray() -> list[int]:
    """Pids of Ray workers running a convlab member now (Ray titles them ray::train_member)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"ray::train_member"):
                pids.append(int(cmdline.parent.name))
        except OSError:  # the process ended while we looked
            pass
    return pids


def _wait_for(predicate, timeout: float = 300) -> None:
    end = time.monotonic() + timeout  # a hang guard, not a speed check
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_ctrl_c_cancels_the_remote_runs_and_leaves_them_resumable(cluster, tmp_path, tiny):
    """`convlab run --ray` (here starting a local cluster of its own) stopped by
    SIGINT, as Ctrl-C does: exit 130, every remote member cancelled, each run
    interrupted."""
    store_path = tmp_path / "runs.sqlite"
    proc = subprocess.Popen(
        cli_command(
            "run",
            tiny,
            "--ray",
            "--train-limit",
            "1000",
            "--epochs",
            "40",
            "--repeats",
            "2",
            "--seed",
            "1",
            "--json",
            "--store",
            store_path,
        ),
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = Store(store_path)
    try:
        _wait_for(lambda: len(store.runs()) == 2 and all(r.epochs_done >= 1 for r in store.runs()))
        assert len(_training_on_ray()) == 2
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # a failed wait must not leave the run training
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "resume with `convlab run --resume" in err
    runs = store.runs()
    assert {r.status for r in runs} == {"interrupted"} and all(r.epochs_done < 40 for r in runs)
    assert all(store.checkpoint(r.id) is not None for r in runs)
    _wait_for(lambda: not _training_on_ray(), timeout=180)  # the remote members were cancelled
