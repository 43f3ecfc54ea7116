"""Runs and readers at once, and runs killed outright: the real CLI in
subprocesses on one real store. Two resumes of one run: one trains, the other
is refused in one line. Several writers and readers: nothing lost. A run
killed (SIGKILL) at random points resumes to the numbers of a run never killed."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time

import numpy as np

from convlab.config import spec as specs
from convlab.store import Store

from helpers import cli_command, cli_env

SHALLOW = ("run", "shallow", "--train-limit", "1000", "--repeats", "1", "--json")


def start(*args, cwd):
    return subprocess.Popen(
        cli_command(*args),
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def finish(proc, timeout: float = 600) -> tuple[int, list[dict], str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_two_resumes_of_one_run_only_one_trains(tmp_path):
    path = tmp_path / "s.sqlite"
    spec = specs.load("shallow").with_train(epochs=3, train_limit=1000, repeats=1)
    with Store(path) as store:
        run_id = store.create_run(spec, group_id=store.create_group(spec), seed=4, device="cpu")
        store.finish(run_id, "interrupted", error="stopped by request")
    procs = [start("run", "--resume", run_id, "--json", "--store", path, cwd=tmp_path) for _ in range(2)]
    results = [finish(p) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [(c, e) for c, _, e in results]
    winner = next(r for r in results if r[0] == 0)
    loser = next(r for r in results if r[0] == 2)
    assert [e["epoch"] for e in winner[1] if e["event"] == "epoch"] == [1, 2, 3]
    assert not any(e["event"] in ("started", "epoch") for e in loser[1])  # it trained nothing
    lines = loser[2].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convlab: run 1") and "Traceback" not in loser[2]
    with Store(path) as store:
        assert store.run(run_id).status == "finished" and [e.epoch for e in store.epochs(run_id)] == [1, 2, 3]


def test_three_writers_and_readers_lose_nothing(tmp_path, record_property):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    writers = [
        start(*SHALLOW, "--epochs", "2", "--seed", str(seed), "--store", path, cwd=tmp_path) for seed in (1, 2, 3)
    ]
    failures: list[str] = []
    done = threading.Event()

    def read_in_process() -> None:  # the lab's way: one Store, polled
        with Store(path) as store:
            while not done.is_set():
                try:
                    for run in store.runs():
                        store.epochs(run.id)
                        store.filters(run.id)
                except Exception as exc:  # noqa: BLE001 - any failure is the finding
                    failures.append(repr(exc))

    reads = 0  # CLI reads while the writers run
    reader = threading.Thread(target=read_in_process)
    reader.start()
    try:
        while any(w.poll() is None for w in writers):
            for args in (("runs",), ("export", "--format", "csv")):
                result = subprocess.run(
                    cli_command(*args, "--store", path),
                    cwd=tmp_path,
                    env=cli_env(),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                reads += 1
                if result.returncode != 0 and "nothing to export" not in result.stderr:
                    failures.append(result.stderr)
        outcomes = [finish(w) for w in writers]
    finally:
        done.set()
        reader.join()
        for w in writers:
            if w.poll() is None:
                w.kill()
    assert [code for code, _, _ in outcomes] == [0, 0, 0], [err for _, _, err in outcomes]
    assert failures == []
    record_property("cases", reads)
    with Store(path) as store:
        runs = store.runs()
        assert sorted(r.seed for r in runs) == [1, 2, 3]
        assert all(r.status == "finished" and [e.epoch for e in store.epochs(r.id)] == [1, 2] for r in runs)
        assert all(store.predictions(r.id) is not None for r in runs)


def _started(proc) -> tuple[list[dict], float]:
    """Read events up to the run's 'started' line; the time it was read."""
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "started":
            return seen, time.monotonic()
    raise AssertionError("the run never started")


def _kill_at(args, path, cwd, after: float, expected) -> tuple[int, str]:
    """Start a run, SIGKILL it `after` seconds into its training; check that
    the store holds whole epochs only; the run id and its status."""
    proc = start(*args, "--store", path, cwd=cwd)
    seen, began = _started(proc)
    time.sleep(max(0.0, began + after - time.monotonic()))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    run_id = seen[-1]["run"]
    with Store(path) as store:
        store.mark_stale()
        run = store.run(run_id)
        stored = [(e.epoch, e.train_loss, e.val_acc, e.test_acc) for e in store.epochs(run_id)]
        assert stored == expected[: len(stored)]  # whole epochs, as they would have been
        if run.status == "interrupted":
            checkpoint = store.checkpoint(run_id)
            assert (checkpoint[0] if checkpoint else 0) == run.epochs_done == len(stored)
        return run_id, run.status


def test_sigkill_at_random_points_then_resume_matches_an_uninterrupted_run(tmp_path, record_property):
    """Killed at a random moment of its training (mid-epoch, or while an epoch
    and its checkpoint are written): the store holds whole epochs only, and the
    resumed run's numbers equal those of a run never killed. The moments are
    fractions of the uninterrupted run's time, drawn from a fixed seed."""
    args = ("run", "shallow", "--train-limit", "5000", "--epochs", "3", "--seed", "5", "--repeats", "1", "--json")
    proc = start(*args, "--store", tmp_path / "ref.sqlite", cwd=tmp_path)
    _, began = _started(proc)
    code, _, err = finish(proc)
    training = time.monotonic() - began
    assert code == 0, err
    with Store(tmp_path / "ref.sqlite") as ref:
        expected = [(e.epoch, e.train_loss, e.val_acc, e.test_acc) for e in ref.epochs(1)]
        expected_predictions = ref.predictions(1)
    killed = 0
    for i, fraction in enumerate(random.Random(10).uniform(0.02, 0.9) for _ in range(3)):
        for attempt in range(5):  # a loaded machine may finish the run first: try earlier
            path = tmp_path / f"killed-{i}-{attempt}.sqlite"
            run_id, status = _kill_at(args, path, tmp_path, fraction * training, expected)
            if status == "interrupted":
                break
            fraction /= 3
        assert status == "interrupted"
        killed += 1
        code, _, err = finish(start("run", "--resume", run_id, "--json", "--store", path, cwd=tmp_path))
        assert code == 0, err
        with Store(path) as store:
            assert [(e.epoch, e.train_loss, e.val_acc, e.test_acc) for e in store.epochs(run_id)] == expected
            assert np.array_equal(store.predictions(run_id), expected_predictions)
    record_property("cases", killed)
