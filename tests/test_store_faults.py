"""The store under faults: a column added or dropped by hand, an older store,
a newer one, a damaged page, a file that is not a store, a read-only store.
Each is one clear line and exit 2, or works; nothing stored is changed by a
command that fails."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest

from convlab.config import spec as specs
from convlab.store import Store, schema

from helpers import assert_user_error, epoch_event


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seeded(path, runs: int = 2) -> None:
    """`runs` finished runs with an epoch each, and the file checkpointed (no -wal)."""
    spec = specs.load("shallow").with_train(epochs=1)
    with Store(path) as store:
        group = store.create_group(spec)
        for member in range(runs):
            run = store.create_run(spec, group_id=group, member=member, seed=member, device="cpu")
            store.add_epoch(
                run,
                epoch_event(1, 90.0, train_loss=0.5, test_acc=89.0, test_at_best=89.0, learning_rate=0.1),
            )
            store.finish(run, "finished")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def as_version_0(path) -> None:
    """What the first convlab wrote: the same tables, user_version 0."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=0")
    db.commit()
    db.close()


def test_a_new_store_has_the_current_version(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION


def test_an_added_column_is_ignored_by_every_read_command(tmp_path, run_cli, record_property):
    record_property("cases", 4)
    path = tmp_path / "convlab.sqlite"
    seeded(path)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE runs ADD COLUMN notes TEXT")
    db.execute("UPDATE runs SET notes='mine'")
    db.commit()
    db.close()
    for args in (("runs",), ("show", "1"), ("export", "--format", "csv"), ("compare",)):
        result = run_cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert sqlite3.connect(path).execute("SELECT notes FROM runs WHERE id=1").fetchone() == ("mine",)


def test_an_older_store_is_migrated_in_place_and_a_copy_kept(tmp_path, run_cli):
    """A version-0 store lacking a column (error) that a run needs to finish:
    opened for writing, it is copied aside, then brought forward in one
    transaction; its runs are all still there."""
    path = tmp_path / "convlab.sqlite"
    seeded(path)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE runs DROP COLUMN error")
    db.commit()
    db.close()
    as_version_0(path)
    with Store(path) as store:
        assert [r.id for r in store.runs()] == [2, 1]
        run = store.create_run(specs.load("shallow"), group_id=None)
        store.finish(run, "failed", error="stored in the restored column")
        assert store.run(run).error == "stored in the restored column"
    backup = tmp_path / "convlab.sqlite.v0.bak"
    bak = sqlite3.connect(backup)
    assert bak.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    assert bak.execute("PRAGMA user_version").fetchone() == (0,)
    assert "error" not in {r[1] for r in bak.execute("PRAGMA table_info(runs)")}
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    assert run_cli("runs").returncode == 0


def test_a_newer_store_is_refused_and_left_alone(tmp_path, run_cli, record_property):
    record_property("cases", 4)
    path = tmp_path / "convlab.sqlite"
    seeded(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={schema.VERSION + 1}")
    db.commit()
    db.close()
    before = digest(path)
    for args in (("runs",), ("show", "1"), ("export", "--format", "md"), ("run", "shallow", "--train-limit", "100")):
        assert_user_error(run_cli(*args), "written by a newer convlab", "was not changed")
    assert digest(path) == before and not (tmp_path / "convlab.sqlite.v1.bak").exists()


def test_a_damaged_page_is_one_line_and_the_file_is_unchanged(tmp_path, run_cli, record_property):
    record_property("cases", 3)
    path = tmp_path / "convlab.sqlite"
    seeded(path, runs=30)
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    raw = bytearray(path.read_bytes())
    raw[2 * page : 3 * page] = b"\xff" * page  # a page of a table, not the header
    path.write_bytes(bytes(raw))
    before = digest(path)
    outcomes = [run_cli(*args) for args in (("runs",), ("show", "1"), ("export", "--format", "json"))]
    for result in outcomes:
        assert_user_error(result, "damaged", "not changed")
    assert digest(path) == before


@pytest.mark.parametrize("content", [b"this is not a database, just text " * 200, "sqlite"])
def test_a_file_that_is_not_a_store(tmp_path, run_cli, content, record_property):
    record_property("cases", 2)
    path = tmp_path / "convlab.sqlite"
    if content == "sqlite":  # an SQLite file of another program
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE songs (title TEXT)")
        db.commit()
        db.close()
    else:
        path.write_bytes(content)
    before = digest(path)
    for args in (("runs",), ("run", "shallow", "--train-limit", "100")):
        assert_user_error(run_cli(*args), "not a convlab store", "not changed")
    assert digest(path) == before


def test_a_read_only_store_is_read_and_never_written(tmp_path):
    """Opened read-only (as the read commands do when the file or its folder
    cannot be written), an older store: a run left 'running' by a dead process
    is shown as stored, not marked or migrated, and the file does not change."""
    from helpers import run_of_a_killed_process

    path = tmp_path / "ro" / "s.sqlite"
    path.parent.mkdir()
    seeded(path)
    dead = run_of_a_killed_process(path)
    with Store(path) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = sqlite3.connect(path)  # and an older store: no notes or tags tables, version 0
    db.executescript("DROP TABLE notes; DROP TABLE tags; PRAGMA user_version=0;")
    db.close()
    before = digest(path)
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)
    try:
        with Store(path, read_only=True) as store:
            assert not store.writable and store.mark_stale() == 0
            assert [r.id for r in store.runs()] == [dead, 2, 1] and store.run(dead).status == "running"
            assert len(store.epochs(1)) == 1
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                store.db.execute("DELETE FROM runs")
    finally:
        os.chmod(path.parent, 0o755)
        os.chmod(path, 0o644)
    assert digest(path) == before


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root writes through file permissions; "
    "test_a_read_only_store_is_read_and_never_written covers the read-only path",
)
def test_read_commands_on_a_read_only_file(tmp_path, run_cli):
    path = tmp_path / "convlab.sqlite"
    seeded(path)
    os.chmod(path, 0o444)
    try:
        for args in (("runs",), ("show", "1"), ("export", "--format", "csv"), ("compare",)):
            result = run_cli(*args)
            assert result.returncode == 0, (args, result.stderr)
    finally:
        os.chmod(path, 0o644)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can create files in any folder")
def test_an_unwritable_folder_is_named_as_such(tmp_path, run_cli):
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    assert_user_error(run_cli("runs", "--store", folder / "new.sqlite"), "folder is not writable")


def test_show_of_an_id_beyond_sqlite(tmp_path, run_cli, record_property):
    record_property("cases", 5)
    seeded(tmp_path / "convlab.sqlite")
    for run_id in ("99999999999999999999", "-1", "0", "9223372036854775807"):
        assert_user_error(run_cli("show", run_id), "does not exist")
    assert_user_error(run_cli("show", "x" * 1000), "is not a run id")


def as_version_2(path) -> None:
    """What convlab wrote at store version 2: epochs without val_loss."""
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE epochs DROP COLUMN val_loss")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()


def test_a_version_2_store_gains_validation_loss_and_keeps_its_epochs(tmp_path):
    """Old epochs read back with no loss (it was never measured); a new epoch
    stores one; the v2 file is kept aside as it was."""
    path = tmp_path / "convlab.sqlite"
    seeded(path)
    as_version_2(path)
    with Store(path) as store:
        old = store.epochs(1)
        assert [(e.epoch, e.val_acc, e.val_loss) for e in old] == [(1, 90.0, None)]
        store.add_epoch(
            2,
            epoch_event(2, 91.0, train_loss=0.4, val_loss=0.31, test_at_best=90.0, learning_rate=0.1),
        )
        assert [e.val_loss for e in store.epochs(2)] == [None, 0.31]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == schema.VERSION >= 3
    bak = sqlite3.connect(tmp_path / "convlab.sqlite.v2.bak")
    assert bak.execute("PRAGMA user_version").fetchone() == (2,)
    assert "val_loss" not in {r[1] for r in bak.execute("PRAGMA table_info(epochs)")}
    assert bak.execute("SELECT count(*) FROM epochs").fetchone() == (2,)


def test_a_read_only_version_2_store_shows_epochs_without_loss(tmp_path):
    path = tmp_path / "convlab.sqlite"
    seeded(path)
    as_version_2(path)
    before = digest(path)
    with Store(path, read_only=True) as store:
        assert [e.val_loss for e in store.epochs(1)] == [None]
    assert digest(path) == before


DAMAGES = {  # run id: what a hand edit, a disk error inside a page or a future version left
    1: "UPDATE runs SET config='not json{' WHERE id=1",
    2: "UPDATE runs SET members='garbage' WHERE id=2",
    3: "UPDATE runs SET epochs_done='abc', seed='s' WHERE id=3",
    4: "UPDATE epochs SET val_acc='n/a', train_loss=x'00' WHERE run_id=4",
    5: "UPDATE epochs SET filters=x'0011' WHERE run_id=5",
}


def rows_of(path, *run_ids) -> list:
    db = sqlite3.connect(path)
    try:
        return [db.execute("SELECT * FROM runs WHERE id=?", (r,)).fetchall() for r in run_ids] + [
            db.execute("SELECT * FROM epochs WHERE run_id=?", (r,)).fetchall() for r in run_ids
        ]
    finally:
        db.close()


def test_damaged_rows_are_listed_as_unreadable_and_the_rest_still_works(tmp_path, run_cli, record_property):
    """Rows damaged inside a valid store: the run whose row cannot be read is listed as
    unreadable with its reason, refused in one line where its content is needed, and
    removable; every other run shows, compares and exports; nothing else is changed."""
    path = tmp_path / "convlab.sqlite"
    seeded(path, runs=6)
    db = sqlite3.connect(path)
    for sql in DAMAGES.values():
        db.execute(sql)
    db.commit()
    db.close()
    before = rows_of(path, 1, 2, 3, 4, 5, 6)

    listing = run_cli("runs")
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines() if line[:1].isdigit()}
    assert set(lines) == {"1", "2", "3", "4", "5", "6"}
    assert "unreadable" in lines["1"] and "config is not valid JSON" in lines["1"]
    assert "unreadable" in lines["2"] and "members" in lines["2"]
    assert "unreadable" in lines["3"] and "seed" in lines["3"]
    assert all("finished" in lines[r] for r in "456")
    assert run_cli("runs", "--ids").stdout.split() == ["6", "5", "4", "3", "2", "1"]

    cases = [("show", "4"), ("show", "5"), ("show", "6"), ("compare",), ("compare", "4", "5", "6")]
    cases += [("export", "--format", f) for f in ("csv", "json", "md")]
    cases += [("export", "--format", "html", "-o", "all.html"), ("export", "--format", "records", "-o", "recs")]
    cases += [("tag", "mine", "6"), ("note", "6", "kept")]
    for args in cases:
        result = run_cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
    for args in (("show", "1"), ("compare", "1", "6"), ("tag", "x", "2"), ("note", "3", "n"), ("ensemble", "1", "6")):
        assert_user_error(run_cli(*args), "cannot be read", "convlab rm")
    assert rows_of(path, 1, 2, 3, 4, 5) == before[:5] + before[6:11]  # only run 6 got its tag and note

    result = run_cli("rm", "--yes", "1", "2", "3")
    assert result.returncode == 0, result.stderr
    assert run_cli("runs", "--ids").stdout.split() == ["6", "5", "4"]
    record_property("cases", len(cases) + 7)
