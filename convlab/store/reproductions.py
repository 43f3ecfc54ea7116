"""Reproductions (`convlab reproduce`): a plan of presets, each trained as a
group; an unfinished one is picked up where it stopped."""

from __future__ import annotations

import time

from convlab.store.connection import Connection


class Reproductions(Connection):
    def unfinished_reproduction(self, plan: str) -> tuple[int, int] | None:
        """(id, seed) of the latest unfinished reproduction of this plan, if any."""
        row = self.db.execute(
            "SELECT id, seed FROM reproductions WHERE plan=? AND finished IS NULL ORDER BY id DESC LIMIT 1", (plan,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def create_reproduction(self, plan: str, quick: bool, seed: int) -> int:
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO reproductions (plan, quick, seed, created) VALUES (?, ?, ?, ?)",
                (plan, int(quick), seed, time.time()),
            )
        return cur.lastrowid

    def reproduction_groups(self, reproduction_id: int) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT preset, group_id FROM reproduction_groups WHERE reproduction_id=?", (reproduction_id,)
        )
        return {r[0]: r[1] for r in rows}

    def record_reproduction_group(self, reproduction_id: int, preset: str, group_id: int) -> None:
        with self._tx():
            self.db.execute(
                "INSERT OR REPLACE INTO reproduction_groups (reproduction_id, preset, group_id) VALUES (?, ?, ?)",
                (reproduction_id, preset, group_id),
            )

    def finish_reproduction(self, reproduction_id: int) -> None:
        with self._tx():
            self.db.execute("UPDATE reproductions SET finished=? WHERE id=?", (time.time(), reproduction_id))
