"""The store under the faults a hostile probe still got through (#22, items
13–15): damaged pages that no read had touched, a read-only folder holding a
write-ahead log without its index, full and read-only disks. Each is read
correctly, or refused in one line, exit 2, and nothing is written."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from test_store_faults import digest, seeded

from convlab.config import spec as specs
from convlab.store import Store, schema

from helpers import assert_user_error, cli_command, cli_env


def with_bulk(path, runs: int = 60) -> None:
    """`runs` finished runs with five epochs of filters and stored test predictions each."""
    seeded(path, runs=runs)
    db = sqlite3.connect(path)
    rng = np.random.default_rng(0)
    db.executemany(
        "INSERT OR REPLACE INTO epochs (run_id, epoch, train_loss, val_acc, test_acc, seconds, filters) "
        "VALUES (?, ?, 0.5, 90.0, 89.0, 1.0, ?)",
        [(r, e, rng.bytes(3000)) for r in range(1, runs + 1) for e in range(1, 6)],
    )
    db.executemany(
        "INSERT INTO predictions (run_id, test) VALUES (?, ?)",
        [(r, rng.integers(0, 10, 10_000, dtype=np.uint8).tobytes()) for r in range(1, runs + 1)],
    )
    db.commit()
    db.execute("VACUUM")
    db.close()


def damage_last_epochs_page(path) -> None:
    """Overwrite the last leaf page of the epochs table: far past the schema and
    the runs, where the listing and `show 1` never read."""
    db = sqlite3.connect(path)
    page = db.execute("PRAGMA page_size").fetchone()[0]
    last = db.execute("SELECT max(pageno) FROM dbstat WHERE name='epochs' AND pagetype='leaf'").fetchone()[0]
    db.close()
    assert last > len(path.read_bytes()) // page // 2
    raw = bytearray(path.read_bytes())
    raw[(last - 1) * page : last * page] = b"\xff" * page
    path.write_bytes(bytes(raw))


def test_damaged_pages_past_the_schema_are_refused_before_a_write(tmp_path, run_cli, record_property):
    path = tmp_path / "convlab.sqlite"
    with_bulk(path)
    damage_last_epochs_page(path)
    before = digest(path)
    for args in (("runs",), ("show", "1")):  # reads that never touch the page still work
        result = run_cli(*args)
        assert result.returncode == 0, (args, result.stderr)
    writes = [("note", "1", "hello"), ("tag", "mine", "1"), ("ensemble", "1", "2", "3"), ("rm", "--yes", "4")]
    for args in writes:
        assert_user_error(run_cli(*args), str(path.name), "damaged", "nothing was written", "restore a copy")
    assert digest(path) == before
    record_property("cases", len(writes) + 2)


def as_another_user() -> list[str]:
    """The command's prefix: when the tests run as root (who writes through any
    permission), the CLI runs as `nobody`, so a read-only folder is read-only to it."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to run the CLI as another user")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def run_cli_as_another_user(*args, store, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*as_another_user(), *cli_command(*args)],
        cwd=cwd,
        env=cli_env(store),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_a_read_only_folder_with_a_log_and_no_index_shows_what_the_log_holds(tmp_path, record_property):
    """A note and a best figure stored only in `<store>-wal`, the store's folder
    read-only and no `<store>-shm`: `runs` and `show` read them, nothing is
    written, and no `-shm` is made."""
    source = tmp_path / "source.sqlite"
    seeded(source)
    writer = sqlite3.connect(source)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO notes (run_id, text) VALUES (1, 'only in the log')")
    writer.execute("UPDATE runs SET best_val=99.5 WHERE id=1")
    writer.commit()
    folder = Path(tempfile.mkdtemp(prefix="convlab-ro-"))  # beside tmp_path, whose parents nobody may enter
    try:
        store = folder / "convlab.sqlite"
        shutil.copyfile(source, store)
        shutil.copyfile(f"{source}-wal", f"{store}-wal")
        writer.close()
        before = {p.name: digest(p) for p in folder.iterdir()}
        os.chmod(folder, 0o555)
        listing = run_cli_as_another_user("runs", store=store, cwd=folder)
        shown = run_cli_as_another_user("show", "1", store=store, cwd=folder)
        for result in (listing, shown):
            assert result.returncode == 0, result.stderr
        line = next(x for x in listing.stdout.splitlines() if x.startswith("1 "))
        assert "99.50" in line and "only in the log" in line
        assert "only in the log" in shown.stdout and "best validation 99.50%" in shown.stdout
        assert {p.name: digest(p) for p in folder.iterdir()} == before
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)
    record_property("cases", 2)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB file system of its own (tmpfs), to fill: needs the right to mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount]).returncode:
        pytest.skip("cannot mount a small file system here (needs root and the right to mount)")
    yield mount
    subprocess.run(["umount", "-l", mount], check=False)


def fill(folder) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:  # no space left
        pass
    finally:
        os.close(fd)


def test_a_full_disk_is_named_and_reads_need_no_write(small_disk, run_cli, record_property):
    """Reads work on a store whose disk is full, even with a run to mark stale
    (left as stored); a write is one line naming the full disk, not damage."""
    from helpers import run_of_a_killed_process

    path = small_disk / "convlab.sqlite"
    seeded(path)
    stale = run_of_a_killed_process(path)
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    fill(small_disk)
    before = digest(path)
    reads = [("runs",), ("show", "1"), ("export", "--format", "csv")]
    for args in reads:
        result = run_cli(*args, store=path)
        assert result.returncode == 0, (args, result.stderr)
    writes = [("note", "1", "x"), ("tag", "t", "1"), ("rm", "--yes", "2")]
    for args in writes:
        line = assert_user_error(run_cli(*args, store=path), str(path), "disk is full", "free some space")
        assert "damaged" not in line and "restore a copy" not in line
    assert digest(path) == before
    with Store(path, read_only=True) as store:
        assert store.run(stale).status == "running"
    record_property("cases", len(reads) + len(writes))


def test_a_read_only_store_is_called_read_only(record_property):
    folder = Path(tempfile.mkdtemp(prefix="convlab-ro-"))
    try:
        store = folder / "convlab.sqlite"
        seeded(store)
        os.chmod(store, 0o444)
        os.chmod(folder, 0o755)
        writes = [("note", "1", "x"), ("tag", "t", "1"), ("rm", "--yes", "2")]
        for args in writes:
            result = run_cli_as_another_user(*args, store=store, cwd=folder)
            line = assert_user_error(result, str(store), "read-only", "make it writable or copy it elsewhere")
            assert "damaged" not in line and "restore a copy" not in line
    finally:
        shutil.rmtree(folder)
    record_property("cases", len(writes))


def as_version_5(path) -> None:
    """What convlab wrote at store version 5: run ids without AUTOINCREMENT (and a
    column added by hand, which the rebuild keeps)."""
    db = sqlite3.connect(path)
    create = db.execute("SELECT sql FROM sqlite_master WHERE name='runs'").fetchone()[0]
    db.execute(create.replace("CREATE TABLE runs", "CREATE TABLE runs_v5").replace(" AUTOINCREMENT", ""))
    db.executescript(
        """INSERT INTO runs_v5 SELECT * FROM runs; DROP TABLE runs; ALTER TABLE runs_v5 RENAME TO runs;
        CREATE INDEX runs_group ON runs(group_id); DELETE FROM sqlite_sequence;
        ALTER TABLE runs ADD COLUMN mine TEXT; UPDATE runs SET mine='kept'; PRAGMA user_version=5;"""
    )
    db.close()


@pytest.mark.parametrize("old", [False, True], ids=["new store", "version 5 store"])
def test_a_run_id_is_never_given_twice(tmp_path, run_cli, old):
    """After `rm` of the newest run, the next run gets a new id, in a new store
    and in one migrated from version 5 (its rows, and a column added by hand, kept)."""
    path = tmp_path / "convlab.sqlite"
    seeded(path, runs=3)
    if old:
        as_version_5(path)
        with Store(path) as store:  # migrated here, before anything is removed
            assert [r.id for r in store.runs()] == [3, 2, 1]
        db = sqlite3.connect(path)
        assert db.execute("SELECT count(*) FROM runs WHERE mine='kept'").fetchone() == (3,)
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
        db.close()
    result = run_cli("rm", "--yes", "3")
    assert result.returncode == 0, result.stderr
    with Store(path) as store:
        new = store.create_run(specs.load("shallow"), group_id=None, status="interrupted")
        assert new == 4 and [r.id for r in store.runs()] == [4, 2, 1]
