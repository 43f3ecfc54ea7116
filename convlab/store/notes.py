"""A run's note and tags, kept in tables of their own (a store written before
they existed needs no change)."""

from __future__ import annotations

from convlab.store.connection import Connection


class Notes(Connection):
    def set_note(self, run_id: int, text: str) -> None:
        """A free-text note on a run; an empty text removes it."""
        with self._tx():
            self.db.execute("DELETE FROM notes WHERE run_id=?", (run_id,))
            if text:
                self.db.execute("INSERT INTO notes (run_id, text) VALUES (?, ?)", (run_id, text))

    def set_tags(self, run_ids: list[int], add: list[str] = (), remove: list[str] = ()) -> None:
        with self._tx():
            self.db.executemany(
                "INSERT OR IGNORE INTO tags (run_id, tag) VALUES (?, ?)", [(r, t) for r in run_ids for t in add]
            )
            self.db.executemany("DELETE FROM tags WHERE run_id=? AND tag=?", [(r, t) for r in run_ids for t in remove])
