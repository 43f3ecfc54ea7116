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
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from convlab.errors import UserError

VERSION = 5  # 0: the first stores, without a version; 1: the same tables, versioned; 2: sweeps;
# 3: epochs.val_loss (older epochs keep NULL there: their loss was never measured);
# 4: weights (a finished run's best-validation parameters; runs finished before have none);
# 5: the device figures: runs.device_name, runs.path, runs.peak_memory, epochs.images_per_s (NULL before)

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
    id INTEGER PRIMARY KEY,
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
    finished REAL
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


def open_db(path: Path, read_only: bool | None = None) -> tuple[sqlite3.Connection, bool]:
    """A connection to the store at `path` (created if absent) and whether it
    may write: read-only when asked, or when the file or its folder is."""
    folder = path.parent if str(path.parent) else Path(".")
    exists = path.exists()
    writable = os.access(folder, os.W_OK) and (not exists or os.access(path, os.W_OK))
    if read_only and exists:
        writable = False
    if not exists and not writable:
        raise UserError(f"{path}: cannot create a store there (its folder is not writable); choose another --store")
    db = _connect(path, writable)
    try:
        version, tables = _inspect(db, path)
    except BaseException:
        db.close()
        raise
    if writable:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if version < VERSION or _missing_columns(db):
            migrate(db, path, version, bool(tables))
    else:
        _stand_in_tables(db, tables)
    return db, writable


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


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:  # a WAL store in a folder where its -shm cannot be made
        db.close()
        return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)


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
