"""The scheduler with real worker processes (`--workers`): a group's figures
do not depend on how many workers trained it, the runs are written by the
workers themselves, and SIGTERM stops every worker, leaving runs that resume."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from convlab.store import Store

from helpers import assert_user_error, cli_command, cli_env, toml_text

TINY = [{"type": "conv_pool", "maps": 2}, {"type": "softmax", "n_out": 10}]


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(toml_text(TINY, {"activation": "relu", "epochs": 1, "eta": 0.1, "repeats": 3}, name="tiny"))
    return path


def _figures(store: Store) -> list[tuple]:
    """Every member's seed, per-epoch figures and test predictions."""
    runs = sorted((r for r in store.runs() if r.kind == "train"), key=lambda r: r.member)
    return [
        (
            r.member,
            r.seed,
            r.status,
            r.best_val,
            r.test_at_best,
            [(e.epoch, e.train_loss, e.val_acc, e.test_acc) for e in store.epochs(r.id)],
            store.predictions(r.id).tobytes(),
        )
        for r in runs
    ]


def test_a_group_gives_the_same_figures_with_one_worker_and_two(tmp_path, tiny):
    stores = {}
    for workers in (1, 2):
        store = tmp_path / f"w{workers}.sqlite"
        proc = subprocess.Popen(
            cli_command(
                "run", tiny, "--train-limit", "200", "--seed", "5", "--json", "--workers", workers, "--store", store
            ),
            cwd=tmp_path,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        assert sum(e["event"] == "finished" for e in events) == 3
        stores[workers] = Store(store)
        pids = {r.pid for r in stores[workers].runs()}
        if workers == 1:
            assert pids == {proc.pid}  # trained in the command's own process
        else:
            assert proc.pid not in pids  # trained and stored by worker processes
    one, two = _figures(stores[1]), _figures(stores[2])
    assert [f[:2] for f in one] == [(0, 5), (1, 6), (2, 7)]
    assert all(f[2] == "finished" for f in one + two)
    assert one == two


def _wait_for(predicate, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_sigterm_stops_every_worker_and_the_group_resumes(tmp_path, tiny):
    """Four runs on two workers: the two waiting for a worker are never opened
    (no empty run rows), and the resume trains all four."""
    store_path = tmp_path / "runs.sqlite"
    proc = subprocess.Popen(
        cli_command(
            "run",
            tiny,
            "--train-limit",
            "1000",
            "--epochs",
            "12",
            "--repeats",
            "4",
            "--seed",
            "1",
            "--workers",
            "2",
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
    _wait_for(lambda: len(store.runs()) == 2 and all(r.epochs_done >= 1 for r in store.runs()))
    workers = {r.pid for r in store.runs()}
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "resume with `convlab run --resume" in err
    runs = store.runs()
    assert {r.status for r in runs} == {"interrupted"} and len(runs) == 2
    assert all(1 <= r.epochs_done < 12 for r in runs)
    for pid in workers:  # the workers ended with the command
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(pid, 0)
    done = subprocess.run(
        cli_command("run", "--resume", runs[0].id, "--workers", "2", "--json", "--store", store_path),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    resumed = [json.loads(line) for line in done.stdout.splitlines() if '"started"' in line]
    assert sorted(bool(e["resumed_from"]) for e in resumed) == [False, False, True, True]
    assert {r.status for r in store.runs()} == {"finished"} and len(store.runs()) == 4
    assert all(r.epochs_done == 12 for r in store.runs())


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--workers", "0"), "--workers 0: must be a whole number from 1 to 1,024"),
        (("--workers", "5000"), "--workers 5000: must be a whole number from 1 to 1,024"),
    ],
)
def test_bad_worker_options_are_one_line(run_cli, tiny, args, fragment):
    assert_user_error(run_cli("run", tiny, *args), fragment)


def test_ray_missing_is_one_line_saying_what_to_install(tmp_path, tiny):
    shadow = tmp_path / "no-ray" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {**cli_env(), "PYTHONPATH": str(shadow.parent)}
    for args, extra in ((("--ray",), {}), ((), {"CONVLAB_RAY": "auto"})):
        proc = subprocess.run(
            cli_command("run", tiny, "--train-limit", "100", *args, "--store", tmp_path / "s.sqlite"),
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "pip install 'nndl-convlab[ray]'" in proc.stderr
    assert Store(tmp_path / "s.sqlite").runs() == []
