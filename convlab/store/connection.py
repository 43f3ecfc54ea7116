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


class Connection:
    """Runs this process creates or claims hold their liveness lock until they
    finish or the store is closed."""

    def __init__(self, path: str | os.PathLike | None = None, read_only: bool | None = None):
        self.path = default_path(path)
        if self.path.parent and not self.path.parent.exists():
            raise UserError(f"{self.path}: its folder does not exist; create it or choose another --store")
        self.db, self.writable = open_db(self.path, read_only)
        self._locks: dict[str, liveness.Lock] = {}
        self._columns: dict[tuple[str, str], bool] = {}

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
        return Transaction(self.db)

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
