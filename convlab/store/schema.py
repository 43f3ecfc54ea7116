"""The store's schema, its version, and opening a store safely.

The version lives in `PRAGMA user_version`. Opening a store:

- reads the version and the tables first, writing nothing, so a file that is
  not a convlab store, is damaged, or was written by a newer convlab is
  refused in one line and left exactly as it was;
- migrates an older store forward in one transaction, after copying it to
  `<store>.v<N>.bak`; the same path restores columns an older or hand-edited
  store lacks;
- opens a store it may not write (a read-only file or folder) read-only, so
  the read commands still work on it.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from convlab.errors import UserError

VERSION = 7  # 0: the first stores, without a version; 1: the same tables, versioned; 2: sweeps;
# 3: epochs.val_loss (older epochs keep NULL there: their loss was never measured);
# 4: weights (a finished run's best-validation parameters; runs finished before have none);
# 5: the device figures: runs.device_name, runs.path, runs.peak_memory, epochs.images_per_s (NULL before);
# 6: runs.id AUTOINCREMENT (an id is never given twice, even after `rm` of the newest run)
# 7: sweeps.search, a search's definition (convlab search; NULL: a grid sweep, as every sweep before)

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY,
    preset TEXT NOT NULL,
    config TEXT NOT NULL,
    repeats INTEGER NOT NULL,
    ensemble INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id INTEGER REFERENCES groups(id),
    member INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT 'train',
    preset TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL,
    seed INTEGER,
    device TEXT,
    versions TEXT,
    host TEXT,
    pid INTEGER,
    started REAL,
    ended REAL,
    heartbeat REAL,
    status TEXT NOT NULL,
    epochs_planned INTEGER,
    epochs_done INTEGER NOT NULL DEFAULT 0,
    best_val REAL,
    best_epoch INTEGER,
    test_at_best REAL,
    book_figure REAL,
    progress TEXT,
    members TEXT,
    error TEXT,
    device_name TEXT,
    path TEXT,
    peak_memory INTEGER
);
CREATE INDEX IF NOT EXISTS runs_group ON runs(group_id);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    epoch INTEGER NOT NULL,
    train_loss REAL,
    val_acc REAL,
    test_acc REAL,
    seconds REAL,
    eta REAL,
    filters BLOB,
    val_loss REAL,
    images_per_s REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS mistakes (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,
    label INTEGER NOT NULL,
    predicted INTEGER NOT NULL,
    image BLOB NOT NULL,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS predictions (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    test BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY,
    preset TEXT NOT NULL,
    axes TEXT NOT NULL,
    seed INTEGER NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    search TEXT
);
CREATE TABLE IF NOT EXISTS sweep_points (
    sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
    point INTEGER NOT NULL,
    fields TEXT NOT NULL,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    PRIMARY KEY (sweep_id, point)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    epoch INTEGER NOT NULL,
    state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS weights (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    epoch INTEGER NOT NULL,
    params BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS reproductions (
    id INTEGER PRIMARY KEY,
    plan TEXT NOT NULL,
    quick INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    created REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS reproduction_groups (
    reproduction_id INTEGER NOT NULL REFERENCES reproductions(id),
    preset TEXT NOT NULL,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    PRIMARY KEY (reproduction_id, preset)
);
CREATE TABLE IF NOT EXISTS notes (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
);
"""


def open_db(path: Path, read_only: bool | None = None) -> tuple[sqlite3.Connection, str | None]:
    """A connection to the store at `path` (created if absent) and, where it may
    not write, why: read-only when asked, when the file or its folder is, or when
    its disk cannot take the index SQLite keeps beside it (full, failing)."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        exists = path.exists()
    except OSError as exc:  # a folder on the way that this user may not enter
        raise UserError(f"{path}: cannot be reached ({exc.strerror}); choose another --store") from None
    unwritable = None
    if not os.access(folder, os.W_OK) or (exists and not os.access(path, os.W_OK)):
        unwritable = "its file or folder is read-only"
    if read_only and exists:
        unwritable = "it was opened read-only"
    if not exists and unwritable:
        raise UserError(f"{path}: cannot create a store there (its folder is not writable); choose another --store")
    db = _connect(path, unwritable is None)
    if unwritable is None and (trouble := _disk_trouble(db, folder)):
        db.close()
        unwritable, db = trouble, _connect(path, False)
    try:
        version, tables = _inspect(db, path)
    except BaseException:
        db.close()
        raise
    if unwritable is None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if version < VERSION or _missing_columns(db):
            migrate(db, path, version, bool(tables))
    else:
        _stand_in_tables(db, tables)
    return db, unwritable


def _disk_trouble(db: sqlite3.Connection, folder: Path) -> str | None:
    """Why a store that may be written cannot even be read in place (SQLite makes
    its `-wal` and `-shm` first): a full or failing disk. None when it can."""
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return None
    except sqlite3.DatabaseError as exc:
        name = getattr(exc, "sqlite_errorname", "")
        if not name.startswith(("SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN")):
            return None  # not a store, damaged: for _inspect to name
        return "its disk is full" if disk_full(folder) else f"its disk failed ({exc})"


def disk_full(folder: Path) -> bool:
    """No free block or no free inode on the file system holding `folder`."""
    try:
        fs = os.statvfs(folder)
    except OSError:
        return False
    return fs.f_bavail == 0 or (fs.f_files > 0 and fs.f_favail == 0)


def failure(path: Path, exc: sqlite3.Error) -> str:
    """One line for an SQLite error on the store at `path`, by its cause: a full
    disk, a read-only file, a failing disk, or damage."""
    name = getattr(exc, "sqlite_errorname", "")
    folder = path.parent if str(path.parent) else Path(".")
    if name.startswith("SQLITE_FULL") or (name.startswith("SQLITE_IOERR") and disk_full(folder)):
        return f"{path}: its disk is full ({exc}); nothing more was written; free some space and run it again"
    if name.startswith("SQLITE_READONLY"):
        return f"{path}: the store is read-only ({exc}); nothing was written; make it writable or copy it elsewhere"
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        return f"{path}: its disk failed ({exc}); check the disk, then run it again"
    return damaged(path, exc)


def _stand_in_tables(db: sqlite3.Connection, tables: set[str]) -> None:
    """Empty TEMP tables (this connection's only) for those an older read-only
    store lacks, so every query reads it; the file is not touched."""
    for statement in SCHEMA.split(";"):
        words = statement.split()
        if words[:2] == ["CREATE", "TABLE"] and words[5] not in tables:
            db.execute(statement.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))


def _connect(path: Path, writable: bool) -> sqlite3.Connection:
    try:
        if writable:
            db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        else:
            db = _connect_read_only(path)
    except sqlite3.Error as exc:
        raise UserError(f"{path}: cannot open it ({exc}); choose another --store") from None
    db.row_factory = sqlite3.Row
    return db


WAL_HEADER = 32  # bytes of a write-ahead log that holds no change
READ_COPY_UP_TO = 512 * 2**20  # a store read through a private copy is read into memory


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:  # a WAL store in a folder where its -shm cannot be made
        db.close()
    wal = Path(f"{path}-wal")
    if not wal.exists() or wal.stat().st_size <= WAL_HEADER:  # nothing in the log: the file alone is the store
        return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
    return _read_with_log(path, wal)


def _read_with_log(path: Path, wal: Path) -> sqlite3.Connection:
    """The store and the changes its log holds, when the log cannot be read in
    place (SQLite needs to make `<store>-shm` beside it, and the folder is
    read-only): both are copied to a private folder, read from there into
    memory, and the copies removed. A store too large for that is refused."""
    size = path.stat().st_size + wal.stat().st_size
    if size > READ_COPY_UP_TO:
        raise UserError(
            f"{path}: its write-ahead log {wal.name} holds changes that cannot be read in a read-only folder "
            f"without {path.name}-shm; open it once where the folder may be written, or copy the store and "
            f"{wal.name} to such a folder"
        )
    with tempfile.TemporaryDirectory(prefix="convlab-read-") as folder:
        copy = Path(folder) / "store.sqlite"
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, Path(f"{copy}-wal"))
        source = sqlite3.connect(copy)
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        try:
            source.backup(db)
        finally:
            source.close()
    return db  # a copy in memory: nothing done through it reaches the file


def _inspect(db: sqlite3.Connection, path: Path) -> tuple[int, set[str]]:
    """The version and table names, or a UserError; reads only."""
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise UserError(damaged(path, exc)) from None
    if version > VERSION:
        raise UserError(
            f"{path}: written by a newer convlab (store version {version}, this one reads up to "
            f"{VERSION}); upgrade convlab to use it; the store was not changed"
        )
    if tables and "runs" not in tables:
        raise UserError(
            f"{path}: not a convlab store (an SQLite file with other tables); it was not changed; "
            "choose another --store"
        )
    return version, tables


def damaged(path: Path, exc: Exception) -> str:
    return (
        f"{path}: not a convlab store, or damaged ({exc}); it was not changed; choose another --store or restore a copy"
    )


def expected_columns() -> dict[str, list[tuple[str, str]]]:
    """Every table's columns as the current schema declares them: (name, declaration)."""
    mem = sqlite3.connect(":memory:")
    mem.executescript(SCHEMA)
    out = {}
    for (table,) in mem.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        out[table] = [(c[1], _declaration(c)) for c in mem.execute(f"PRAGMA table_info({table})")]
    mem.close()
    return out


def _declaration(info: tuple) -> str:
    """A column as ALTER TABLE ADD COLUMN accepts it: NOT NULL only with a default."""
    _, name, kind, notnull, default, _ = info
    if default is not None:
        return f"{name} {kind}{' NOT NULL' if notnull else ''} DEFAULT {default}"
    return f"{name} {kind}"


def _missing_columns(db: sqlite3.Connection) -> list[tuple[str, str]]:
    missing = []
    for table, columns in expected_columns().items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if have:  # a missing table is made by the schema itself
            missing += [(table, decl) for name, decl in columns if name not in have]
    return missing


def migrate(db: sqlite3.Connection, path: Path, version: int, has_tables: bool) -> None:
    """Bring the store to VERSION in one transaction, after copying it aside."""
    if has_tables:
        backup(db, path, version)
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] > VERSION:
            raise UserError(f"{path}: a newer convlab upgraded it meanwhile; upgrade convlab")
        _autoincrement_runs(db)
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        for table, declaration in _missing_columns(db):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {declaration}")
        db.execute(f"PRAGMA user_version={VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


RUNS_ID = re.compile(r"\bid\s+INTEGER\s+PRIMARY\s+KEY\b(?!\s+AUTOINCREMENT)", re.IGNORECASE)


def _autoincrement_runs(db: sqlite3.Connection) -> None:
    """Version 6: the runs table rebuilt with `id … AUTOINCREMENT`, every column and
    row kept (a column added by hand too); SQLite cannot alter a key in place. The
    highest id stored becomes the floor of the ids to come."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
    if row is None or not RUNS_ID.search(row[0]):
        return
    create = RUNS_ID.sub("id INTEGER PRIMARY KEY AUTOINCREMENT", row[0], count=1)
    create = re.sub(r"^CREATE TABLE\s+(IF NOT EXISTS\s+)?\"?runs\"?", "CREATE TABLE runs_v6", create, count=1)
    db.execute(create)
    db.execute("INSERT INTO runs_v6 SELECT * FROM runs")
    db.execute("DROP TABLE runs")
    db.execute("ALTER TABLE runs_v6 RENAME TO runs")  # the index on group_id is made again by SCHEMA


def backup(db: sqlite3.Connection, path: Path, version: int) -> Path:
    """A consistent copy of the store before it is changed: <store>.v<N>.bak."""
    target = path.with_name(f"{path.name}.v{version}.bak")
    if target.exists():
        target = path.with_name(f"{path.name}.v{version}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    copy = sqlite3.connect(target)
    with copy:
        db.backup(copy)
    copy.close()
    return target
