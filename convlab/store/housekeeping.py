"""Keeping the file small (`convlab gc`): what checkpoints weigh, dropping the
ones no resume will read, and giving the space back."""

from __future__ import annotations

from pathlib import Path

from convlab.store.connection import Connection


class Housekeeping(Connection):
    def checkpoint_bytes(self, status: str | None = None) -> tuple[int, int]:
        """(how many, total bytes) of the stored checkpoints, of runs with `status` if given."""
        sql = "SELECT count(*), coalesce(sum(length(state)), 0) FROM checkpoints"
        args: tuple = ()
        if status:
            sql += " WHERE run_id IN (SELECT id FROM runs WHERE status=?)"
            args = (status,)
        n, size = self.db.execute(sql, args).fetchone()
        return n, size

    def drop_checkpoints(self, status: str = "finished") -> int:
        """Drop the checkpoints of runs with `status` (only a resume reads them).
        Returns how many; `compact` gives the space back."""
        with self._tx():
            cur = self.db.execute(
                "DELETE FROM checkpoints WHERE run_id IN (SELECT id FROM runs WHERE status=?)", (status,)
            )
        return cur.rowcount

    def compact(self) -> None:
        """Give free pages back to the file system (waits for other writers)."""
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size(self) -> int:
        """Bytes on disk: the file and its write-ahead log."""
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
