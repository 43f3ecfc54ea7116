"""The run store: a real SQLite file in tmp_path, written and read back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from convlab.config import spec as specs
from convlab.config.paths import store_path as default_path
from convlab.errors import UserError
from convlab.runs import events
from convlab.runs.jobs import JobTrainer
from convlab.store import Mistake, Store

from helpers import epoch_event
from helpers import run_of_a_killed_process as _run_of_a_killed_process


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs.sqlite") as s:
        yield s


def _epoch(n: int, **kw) -> events.Epoch:
    """An epoch event as the trainer yields it."""
    return epoch_event(n, 90.0 + n, **{"test_acc": 89.5 + n, "test_at_best": 89.5 + n, "seconds": 2.5, **kw})


def test_round_trip(store, tmp_path):
    spec = specs.load("relu").with_train(epochs=3, train_limit=500)
    group = store.create_group(spec)
    g = store.group(group)
    assert g["preset"] == "relu" and g["repeats"] == 3 and g["ensemble"] == 1
    assert specs.spec_from_dict(g["config"]) == spec

    run_id = store.create_run(spec, group_id=group, member=0, seed=17, device="cpu")
    run = store.run(run_id)
    assert (run.id, run.group_id, run.member, run.kind, run.preset, run.title) == (
        run_id,
        group,
        0,
        "train",
        "relu",
        spec.title,
    )
    assert (run.seed, run.device, run.status, run.epochs_planned, run.epochs_done) == (17, "cpu", "running", 3, 0)
    assert run.book_figure == 99.23 and run.pid == os.getpid() and run.host == socket.gethostname()
    assert {"python", "numpy", "convlab"} <= set(run.versions) and "torch" not in run.versions  # no torch here
    assert run.spec == spec and run.data == "plain" and run.best_val is None
    assert run.started is not None and run.ended is None

    store.set_progress(run_id, {"epoch": 1, "batch": 20, "batches": 50})
    assert store.run(run_id).progress == {"epoch": 1, "batch": 20, "batches": 50}

    rng = np.random.default_rng(0)
    filters = [rng.normal(size=(20, 5, 5)).astype(np.float32) for _ in range(2)]
    store.add_epoch(run_id, _epoch(1, filters=filters[0], checkpoint=b"checkpoint-1"))
    store.add_epoch(
        run_id,
        _epoch(
            2,
            test_acc=None,
            best_val=91.0,
            best_epoch=1,
            test_at_best=90.5,
            filters=filters[1],
            checkpoint=b"checkpoint-2",
        ),
    )
    epochs = store.epochs(run_id)
    assert [(e.epoch, e.train_loss, e.val_acc, e.test_acc, e.seconds, e.eta) for e in epochs] == [
        (1, 1.0, 91.0, 90.5, 2.5, 0.03),
        (2, 0.5, 92.0, None, 2.5, 0.03),
    ]
    assert np.array_equal(store.filters(run_id), filters[1]) and store.filters(run_id).dtype == np.float32
    assert np.array_equal(store.filters(run_id, 1), filters[0])
    assert store.filters(run_id, 7) is None
    assert store.checkpoint(run_id) == (2, b"checkpoint-2")  # the latest epoch's, one per run
    run = store.run(run_id)
    assert (run.epochs_done, run.best_val, run.best_epoch, run.test_at_best) == (2, 91.0, 1, 90.5)

    predictions = rng.integers(0, 10, size=10_000).astype(np.uint8)
    images = [rng.integers(0, 256, size=(28, 28), dtype=np.uint8) for _ in range(3)]
    mistakes = [Mistake(i * 7, 3, 8, im) for i, im in enumerate(images)]
    store.save_outcome(run_id, predictions, mistakes)
    assert np.array_equal(store.predictions(run_id), predictions)
    back = store.mistakes(run_id)
    assert [(m.index, m.label, m.predicted) for m in back] == [(0, 3, 8), (7, 3, 8), (14, 3, 8)]
    assert all(np.array_equal(m.image, im) and m.image.shape == (28, 28) for m, im in zip(back, images))
    store.save_outcome(run_id, predictions, mistakes[:1])  # saving again replaces, not appends
    assert len(store.mistakes(run_id)) == 1

    store.finish(run_id, "finished")
    run = store.run(run_id)
    assert run.status == "finished" and run.ended >= run.started and run.duration >= 0 and run.error is None

    # a second connection (another process, the TUI) sees all of it
    with Store(tmp_path / "runs.sqlite") as other:
        assert other.run(run_id).status == "finished"
        assert np.array_equal(other.predictions(run_id), predictions)


def test_an_epoch_keeps_its_learning_rate_when_the_json_lines_drop_the_eta_alias(store, monkeypatch):
    """The store takes the trainer's typed epoch event, not its JSON line: when
    protocol 2 stops writing the old `eta` name of `learning_rate`, the epoch's
    η is still stored (read from the line, it was silently NULL)."""
    monkeypatch.setattr(events, "ALIASES", {})  # the JSON lines of protocol 2
    assert "eta" not in _epoch(1).to_dict()
    spec = specs.load("relu").with_train(epochs=2, train_limit=500)
    run_id = store.create_run(spec, group_id=None, seed=1, device="cpu")
    recorder = JobTrainer(store)  # the trainer's side of the store, as local and Ray runs record
    recorder.record(run_id, _epoch(1, learning_rate=0.07, checkpoint=b"state-1"))
    recorder.record(run_id, _epoch(2, learning_rate=0.035, val_loss=0.05))
    assert [(e.epoch, e.eta, e.val_loss) for e in store.epochs(run_id)] == [(1, 0.07, None), (2, 0.035, 0.05)]
    assert store.checkpoint(run_id) == (1, b"state-1") and store.run(run_id).epochs_done == 2


def test_unknown_runs_are_user_errors(store):
    assert store.predictions(1) is None and store.checkpoint(1) is None and store.mistakes(1) == []
    with pytest.raises(UserError, match="run 42 does not exist"):
        store.run(42)
    with pytest.raises(UserError, match="'abc' is not a run id"):
        store.run("abc")
    with pytest.raises(UserError, match="group 5 does not exist"):
        store.group(5)


def test_listing_and_filters(store):
    relu, shallow = specs.load("relu"), specs.load("shallow")
    g = store.create_group(relu)
    ids = [store.create_run(relu, group_id=g, member=m, seed=m) for m in range(2)]
    other = store.create_run(shallow, group_id=store.create_group(shallow))
    store.finish(ids[0], "finished")
    store.finish(ids[1], "failed", error="RuntimeError: boom")
    assert [r.id for r in store.runs()] == [other, ids[1], ids[0]]  # newest first
    assert [r.id for r in store.runs(preset="relu")] == [ids[1], ids[0]]
    assert [r.id for r in store.runs(status="failed")] == [ids[1]]
    assert store.run(ids[1]).error == "RuntimeError: boom"
    assert [r.id for r in store.runs(limit=1)] == [other]
    assert [r.member for r in store.group_runs(g)] == [0, 1]


def test_ensemble_rows(store):
    spec = specs.load("ensemble")
    g = store.create_group(spec)
    members = [store.create_run(spec, group_id=g, member=m) for m in range(5)]
    vote = store.create_run(spec, group_id=g, member=5, kind="ensemble", members=members)
    store.set_result(vote, test_at_best=99.67)
    run = store.run(vote)
    assert run.kind == "ensemble" and run.members == members and run.test_at_best == 99.67 and run.best_val is None


def test_mark_stale_interrupts_runs_whose_process_died(store):
    spec = specs.load("shallow")
    dead = _run_of_a_killed_process(store.path)
    alive = store.create_run(spec, group_id=None)
    elsewhere = _run_of_a_killed_process(store.path)
    done = store.create_run(spec, group_id=None)
    store.finish(done, "finished")
    store.db.execute("UPDATE runs SET host='another-machine' WHERE id=?", (elsewhere,))
    # the pid column is not evidence: a live pid (ours) on a dead run changes nothing
    store.db.execute("UPDATE runs SET pid=? WHERE id=?", (os.getpid(), dead))

    assert store.mark_stale() == 1
    run = store.run(dead)
    assert run.status == "interrupted" and "ended without finishing" in run.error and run.ended is not None
    assert store.run(alive).status == "running"  # this process holds its lock
    assert store.run(elsewhere).status == "running"  # another host's lock says nothing here
    assert store.run(done).status == "finished"
    assert store.mark_stale() == 0


def test_stopping_a_run_never_signals_a_pid_the_lock_does_not_prove(store, record_property):
    """A hostile or stale pid in the store (-1 = every process of the user,
    a reused pid, our own) is never signalled: only the lock's holder is."""
    dead = _run_of_a_killed_process(store.path)
    for pid in (-1, 0, 1, os.getpid()):
        store.db.execute("UPDATE runs SET pid=? WHERE id=?", (pid, dead))
        assert store.stop_run(dead) is None  # and we are still here to say so
    assert store.mark_stale() == 1 and store.run(dead).status == "interrupted"
    record_property("cases", 4)


def test_stopping_a_run_signals_the_process_holding_its_lock(tmp_path):
    """The lock holder is found through the lock file, whatever the store's pid says."""
    path = tmp_path / "runs.sqlite"
    code = (
        "import sys, time; from convlab.config import spec; from convlab.store import Store; "
        f"s = Store({str(path)!r}); print(s.create_run(spec.load('shallow'), group_id=None), flush=True); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        run_id = int(proc.stdout.readline())
        with Store(path) as store:
            store.db.execute("UPDATE runs SET pid=-1 WHERE id=?", (run_id,))
            assert store.alive(store.run(run_id)) and store.mark_stale() == 0
            assert store.stop_run(run_id) == proc.pid
            assert proc.wait(timeout=30) == -15
            assert store.mark_stale() == 1
    finally:
        proc.kill()


def test_bad_store_paths(tmp_path):
    with pytest.raises(UserError, match="its folder does not exist"):
        Store(tmp_path / "nowhere" / "x.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just text " * 200)
    with pytest.raises(UserError, match="not a convlab store"):
        Store(junk)


def test_store_location(monkeypatch, tmp_path):
    monkeypatch.delenv("CONVLAB_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user"))
    monkeypatch.chdir(tmp_path)
    assert default_path() == tmp_path / "user" / "convlab" / "convlab.sqlite"  # the user data folder
    (tmp_path / "convlab.sqlite").touch()
    assert str(default_path()) == "convlab.sqlite"  # one in the current folder comes first
    monkeypatch.setenv("CONVLAB_STORE", str(tmp_path / "env.sqlite"))
    assert default_path() == tmp_path / "env.sqlite"
    assert default_path(tmp_path / "flag.sqlite") == tmp_path / "flag.sqlite"  # --store wins


def test_a_trained_run_records_the_versions_its_trainer_passes(store):
    from convlab.versions import library_versions

    spec = specs.load("relu").with_train(epochs=1)
    versions = library_versions()
    run_id = store.create_run(spec, group_id=None, versions=versions)
    assert store.run(run_id).versions == versions and {"python", "numpy", "torch", "convlab"} <= set(versions)
