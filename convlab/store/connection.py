"""One open store file: its connection, its transactions and the liveness
locks (see liveness.py) this process holds in it. The store's other parts
(runs, epochs, sweeps, …) are built on this."""

from __future__ import annotations

import os
import sqlite3
from typing import Self

from convlab.config.paths import store_path as default_path
from convlab.errors import UserError
from convlab.store import liveness
from convlab.store.schema import open_db

# Stores up to this size are checked in full before a command's first write
# (PRAGMA quick_check reads every page once); larger ones check every table
# but the bulky per-epoch and per-run blobs, so the check stays short.
CHECK_ALL_UP_TO = 256 * 2**20
BULK_TABLES = ("epochs", "mistakes", "predictions", "checkpoints", "weights")


class Connection:
    """Runs this process creates or claims hold their liveness lock until they
    finish or the store is closed."""

    def __init__(self, path: str | os.PathLike | None = None, read_only: bool | None = None):
        self.path = default_path(path)
        if self.path.parent and not self.path.parent.exists():
            raise UserError(f"{self.path}: its folder does not exist; create it or choose another --store")
        self.db, self.unwritable = open_db(self.path, read_only)
        self.writable = self.unwritable is None
        self._locks: dict[str, liveness.Lock] = {}
        self._columns: dict[tuple[str, str], bool] = {}
        self._checked = False

    def close(self) -> None:
        for lock in self._locks.values():
            lock.release()
        self._locks.clear()
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _tx(self) -> Transaction:
        if not self.writable:
            raise UserError(self._cannot_write())
        if not self._checked:
            self.check_before_write()
        return Transaction(self.db)

    def check_before_write(self) -> None:
        """Refuse to write into a store with damaged pages, which opening it and
        the reads so far may not have touched: once per connection, before its
        first write."""
        try:
            size = self.path.stat().st_size
            tables = [None] if size <= CHECK_ALL_UP_TO else self._tables(exclude=BULK_TABLES)
            problems = [
                row[0]
                for table in tables
                for row in self.db.execute("PRAGMA quick_check" if table is None else f"PRAGMA quick_check({table})")
            ]
        except (OSError, sqlite3.DatabaseError) as exc:
            raise UserError(self._damaged(exc)) from None
        if problems != ["ok"] * len(tables):
            raise UserError(self._damaged(next(p for p in problems if p != "ok").splitlines()[-1]))
        self._checked = True

    def _cannot_write(self) -> str:
        fix = (
            "free some space and run it again" if "full" in self.unwritable else "make it writable or copy it elsewhere"
        )
        return f"{self.path}: cannot write to the store ({self.unwritable}); nothing was written; {fix}"

    def _damaged(self, found) -> str:
        return f"{self.path}: the store is damaged ({found}); nothing was written; restore a copy or choose another --store"

    def _tables(self, exclude: tuple[str, ...]) -> list[str]:
        rows = self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return [r[0] for r in rows if r[0] not in exclude]

    def version(self) -> int:
        """Changes whenever another connection commits: cheap polling for the TUI."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    def hold(self, key: str) -> liveness.Lock | None:
        """Take the liveness lock `key` ("run-7", "group-3"); None if another process has it."""
        lock = self._locks.get(key) or liveness.acquire(self.path, key)
        if lock is not None:
            self._locks[key] = lock
        return lock

    def release(self, key: str) -> None:
        lock = self._locks.pop(key, None)
        if lock is not None:
            lock.release()

    def _has_column(self, table: str, column: str) -> bool:
        key = (table, column)
        if key not in self._columns:  # asked once per connection: a store's columns change only by migration
            self._columns[key] = any(r[1] == column for r in self.db.execute(f"PRAGMA table_info({table})"))
        return self._columns[key]


class Transaction:
    """BEGIN IMMEDIATE … COMMIT (or ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *rest) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
