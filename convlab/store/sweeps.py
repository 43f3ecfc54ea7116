"""Sweeps (`convlab sweep`): a sweep's points are groups of runs, one per
combination of the swept fields."""

from __future__ import annotations

import json
import time
from typing import Any

from convlab.errors import UserError
from convlab.store.connection import Connection


class Sweeps(Connection):
    def create_sweep(self, preset: str, axes: list, seed: int) -> int:
        """A sweep: its points are groups, added with `add_sweep_point`."""
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO sweeps (preset, axes, seed, created) VALUES (?, ?, ?, ?)",
                (preset, json.dumps(axes), seed, time.time()),
            )
        return cur.lastrowid

    def add_sweep_point(self, sweep_id: int, point: int, fields: dict[str, Any], group_id: int) -> None:
        with self._tx():
            self.db.execute(
                "INSERT INTO sweep_points (sweep_id, point, fields, group_id) VALUES (?, ?, ?, ?)",
                (sweep_id, point, json.dumps(fields), group_id),
            )

    def finish_sweep(self, sweep_id: int) -> None:
        with self._tx():
            self.db.execute("UPDATE sweeps SET finished=? WHERE id=?", (time.time(), sweep_id))

    def sweep(self, sweep_id: int | str) -> dict[str, Any]:
        try:
            key = int(sweep_id)
        except (TypeError, ValueError):
            raise UserError(f"{sweep_id!r} is not a sweep id; `convlab sweep --list` lists them") from None
        row = self.db.execute("SELECT * FROM sweeps WHERE id=?", (key,)).fetchone()
        if row is None:
            raise UserError(f"sweep {key} does not exist in {self.path}; `convlab sweep --list` lists them")
        return {**dict(row), "axes": json.loads(row["axes"])}

    def sweeps(self) -> list[dict[str, Any]]:
        return [self.sweep(r[0]) for r in self.db.execute("SELECT id FROM sweeps ORDER BY id DESC")]

    def sweep_points(self, sweep_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT point, fields, group_id FROM sweep_points WHERE sweep_id=? ORDER BY point", (sweep_id,)
        )
        return [{"point": r[0], "fields": json.loads(r[1]), "group_id": r[2]} for r in rows]
