"""Run management through the real CLI on real stores: `rm` (refusals change
nothing), `note` and `tag` (shown by runs, compare, show and the exports),
`gc` (a really trained run's checkpoint goes, everything show, compare and
export read stays) and the store's size in `convlab runs`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
from dataclasses import replace

import pytest

from convlab.config.spec import load
from convlab.store import RUN_TABLES, Store

from helpers import assert_user_error, epoch_event
from report_fixtures import make_store


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("manage") / "runs.sqlite")


@pytest.fixture
def made(pristine, tmp_path):
    """A private copy of the hand-made store, for a test that changes it."""
    shutil.copy(pristine.path, tmp_path / "runs.sqlite")
    return replace(pristine, path=tmp_path / "runs.sqlite")


def counts(path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", *RUN_TABLES)}
    finally:
        db.close()


def test_rm_refuses_running_runs_vote_members_and_asks_for_yes(made, run_cli):
    store = Store(made.path)  # a run this (live) process trains: it holds the run's lock while the store is open
    try:
        running = store.create_run(load("relu"), group_id=None, device="cpu")
        assert store.run(running).host == socket.gethostname() and store.run(running).pid == os.getpid()
        before = counts(made.path)
        assert_user_error(run_cli("rm", str(running), "--yes", store=made.path), f"run {running} is running")
        assert_user_error(run_cli("rm", str(made.members[0]), "--yes", store=made.path), f"member of vote {made.vote}")
        assert_user_error(run_cli("rm", str(made.two_conv), store=made.path), "add --yes")
        assert_user_error(run_cli("rm", "999", "--yes", store=made.path), "run 999 does not exist")
        assert counts(made.path) == before
    finally:
        store.close()


def test_rm_removes_a_vote_with_its_members_and_all_they_own(made, run_cli):
    with Store(made.path) as store:
        store.set_note(made.vote, "to go")
        store.set_tags(made.members, add=["old"])
    doomed = [made.vote, *made.members]
    before = counts(made.path)
    done = run_cli("rm", *map(str, doomed), "--yes", store=made.path)
    assert done.returncode == 0 and f"removed runs {made.members[0]}–{made.vote}" in done.stdout
    after = counts(made.path)
    assert after["runs"] == before["runs"] - 4 and after["notes"] == 0 and after["tags"] == 0
    db = sqlite3.connect(made.path)
    for table in RUN_TABLES:
        left = db.execute(f"SELECT count(*) FROM {table} WHERE run_id IN ({','.join('?' * 4)})", doomed).fetchone()
        assert left[0] == 0, table
    db.close()
    listed = run_cli("runs", store=made.path).stdout
    assert "ensemble" not in listed and "relu" in listed
    assert run_cli("compare", "--no-curves", store=made.path).returncode == 0


def test_notes_and_tags_show_in_runs_compare_show_and_exports(made, run_cli):
    assert run_cli("tag", "sweep", *map(str, made.relu), store=made.path).returncode == 0
    assert run_cli("note", str(made.relu[1]), "the best of three", store=made.path).returncode == 0
    runs = run_cli("runs", store=made.path).stdout
    line = next(x for x in runs.splitlines() if x.startswith(f"{made.relu[1]} "))
    assert line.endswith("#sweep  the best of three")
    only = run_cli("runs", "--tag", "sweep", store=made.path).stdout.splitlines()
    assert sorted(int(x.split()[0]) for x in only[1:-1]) == made.relu
    compare = run_cli("compare", "--no-curves", store=made.path).stdout
    assert "relu #sweep" in compare and "two-conv #" not in compare
    assert "#sweep  the best of three" in run_cli("show", str(made.relu[1]), store=made.path).stdout
    doc = json.loads(run_cli("export", "--format", "json", store=made.path).stdout)
    record = next(r for r in doc["runs"] if r["run"] == made.relu[1])
    assert record["tags"] == ["sweep"] and record["note"] == "the best of three"
    assert run_cli("tag", "sweep", str(made.relu[0]), "--remove", store=made.path).returncode == 0
    assert run_cli("note", str(made.relu[1]), "", store=made.path).returncode == 0
    with Store(made.path) as store:
        assert store.run(made.relu[0]).tags == [] and store.run(made.relu[1]).note == ""
    assert_user_error(run_cli("tag", "12", str(made.relu[0]), store=made.path), "tag '12'")
    assert_user_error(run_cli("tag", "two words", str(made.relu[0]), store=made.path), "one word")


def test_gc_drops_finished_checkpoints_and_keeps_what_show_compare_export_read(run_cli, tmp_path):
    store = tmp_path / "convlab.sqlite"
    trained = run_cli("run", "relu", "--epochs", "1", "--train-limit", "200", "--repeats", "1", "--seed", "1")
    assert trained.returncode == 0, trained.stderr
    with Store(store) as s:  # an interrupted run keeps its checkpoint: a resume needs it
        stopped = s.create_run(load("relu"), group_id=None, device="cpu")
        s.add_epoch(
            stopped,
            epoch_event(1, 50.0, train_loss=2.0, test_at_best=49.0, checkpoint=b"state"),
        )
        s.finish(stopped, "interrupted")
        n, nbytes = s.checkpoint_bytes("finished")
    assert n == 1 and nbytes > 100_000  # the relu network's parameters, twice, and its generators
    runs_before = run_cli("runs").stdout
    assert "`convlab gc` drops the" in runs_before.splitlines()[-1]
    views = [("show", "1"), ("compare", "--no-curves"), ("export", "--format", "csv"), ("export", "--format", "md")]
    before = {v: run_cli(*v).stdout for v in views}
    json_before = json.loads(run_cli("export", "--format", "json").stdout)
    size_before = os.path.getsize(store)
    assert run_cli("gc", "--dry-run").returncode == 0 and os.path.getsize(store) == size_before
    done = run_cli("gc")
    assert done.returncode == 0 and "dropped 1 checkpoints" in done.stdout
    assert os.path.getsize(store) <= size_before - nbytes * 0.9
    assert {v: run_cli(*v).stdout for v in views} == before
    json_after = json.loads(run_cli("export", "--format", "json").stdout)
    assert json_after["runs"] == json_before["runs"] and json_after["rows"] == json_before["rows"]
    with Store(store) as s:
        assert s.checkpoint(1) is None and s.checkpoint(stopped) == (1, b"state")
    assert "`convlab gc`" not in run_cli("runs").stdout.splitlines()[-1]
