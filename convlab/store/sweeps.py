"""Sweeps (`convlab sweep`): a sweep's points are groups of runs, one per
combination of the swept fields. The process that trains a sweep holds its
lock (`sweep-<id>`, liveness.py): an unfinished sweep nobody holds was interrupted."""

from __future__ import annotations

import json
import time
from typing import Any

from convlab.errors import UserError
from convlab.store import liveness
from convlab.store.connection import Connection


class Sweeps(Connection):
    def create_sweep(self, preset: str, axes: list, seed: int, search: dict[str, Any] | None = None) -> int:
        """A sweep, held by this process: its points are groups, added with `add_sweep_point`.
        `search`: a search's definition (convlab/runs/search.py); None for a grid."""
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO sweeps (preset, axes, seed, created, search) VALUES (?, ?, ?, ?, ?)",
                (preset, json.dumps(axes), seed, time.time(), None if search is None else json.dumps(search)),
            )
            self.hold(f"sweep-{cur.lastrowid}")  # before the commit: nobody sees it unheld
        return cur.lastrowid

    def hold_sweep(self, sweep_id: int) -> bool:
        """Make the sweep this process's; False while another process trains it."""
        return self.hold(f"sweep-{sweep_id}") is not None

    def drop_sweep_if_empty(self, sweep_id: int) -> None:
        """A sweep that failed before its first run (no data, a schedule too short)
        leaves neither itself nor its empty groups behind."""
        with self._tx():
            groups = [r[0] for r in self.db.execute("SELECT group_id FROM sweep_points WHERE sweep_id=?", (sweep_id,))]
            marks = ",".join("?" * len(groups))
            if groups and self.db.execute(f"SELECT 1 FROM runs WHERE group_id IN ({marks})", groups).fetchone():
                return
            self.db.execute("DELETE FROM sweep_points WHERE sweep_id=?", (sweep_id,))
            self.db.execute(f"DELETE FROM groups WHERE id IN ({marks})", groups)
            self.db.execute("DELETE FROM sweeps WHERE id=?", (sweep_id,))

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
        text = row["search"] if "search" in row.keys() else None  # a read-only store older than version 7
        search = json.loads(text) if text else None
        return {**dict(row), "axes": json.loads(row["axes"]), "search": search, "status": self._sweep_status(row)}

    def _sweep_status(self, row) -> str:
        if row["finished"]:
            return "finished"
        return "running" if liveness.held(self.path, f"sweep-{row['id']}") else "interrupted"

    def sweeps(self) -> list[dict[str, Any]]:
        return [self.sweep(r[0]) for r in self.db.execute("SELECT id FROM sweeps ORDER BY id DESC")]

    def sweep_points(self, sweep_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT point, fields, group_id FROM sweep_points WHERE sweep_id=? ORDER BY point", (sweep_id,)
        )
        return [{"point": r[0], "fields": json.loads(r[1]), "group_id": r[2]} for r in rows]

    def swept_fields(self) -> dict[int, dict[str, Any]]:
        """Each sweep point's group and its swept fields, so tables can tell points apart;
        a point whose fields cannot be read is left out (damaged rows never stop a listing)."""
        out: dict[int, dict[str, Any]] = {}
        for group_id, text in self.db.execute("SELECT group_id, fields FROM sweep_points"):
            try:
                fields = json.loads(text)
            except (TypeError, ValueError):
                continue
            if isinstance(group_id, int) and isinstance(fields, dict):
                out[group_id] = fields
        return out
