"""Groups and runs: created, claimed for a resume, finished, found stale,
read back and deleted."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from typing import Any

from convlab.errors import UserError
from convlab.store import liveness
from convlab.store.connection import Connection
from convlab.store.records import STATUSES, Run
from convlab.versions import base_versions

MAX_ID = 2**63 - 1  # SQLite's largest integer

# A run's row with its note and tags (kept in tables of their own, so a store
# written before they existed needs no change).
RUN_SELECT = (
    "SELECT runs.*, (SELECT text FROM notes WHERE run_id=runs.id) AS note, "
    "(SELECT group_concat(tag, ' ') FROM (SELECT tag FROM tags WHERE run_id=runs.id ORDER BY tag)) "
    "AS tags FROM runs"
)
# What a run owns in the other tables, deleted with it.
RUN_TABLES = ("epochs", "mistakes", "predictions", "checkpoints", "weights", "notes", "tags")


class Runs(Connection):
    # ------------------------------------------------------------ writing

    def create_group(self, spec) -> int:
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO groups (preset, config, repeats, ensemble, created) VALUES (?, ?, ?, ?, ?)",
                (spec.name, json.dumps(spec.to_dict()), spec.train.repeats, spec.train.ensemble, time.time()),
            )
        return cur.lastrowid

    def drop_group_if_empty(self, group_id: int) -> None:
        """A group whose runs never started leaves nothing behind."""
        with self._tx():
            self.db.execute(
                "DELETE FROM groups WHERE id=? AND NOT EXISTS (SELECT 1 FROM runs WHERE group_id=?)",
                (group_id, group_id),
            )

    def create_run(
        self,
        spec,
        *,
        group_id: int | None,
        member: int = 0,
        seed: int | None = None,
        device: str | None = None,
        kind: str = "train",
        members: list[int] | None = None,
        status: str = "running",
        versions: dict[str, str] | None = None,
    ) -> int:
        """A new run; `versions` are the libraries it ran with (the trainer passes
        its own, with torch's; the default, base_versions(), has no torch)."""
        now = time.time()
        with self._tx():
            cur = self.db.execute(
                """INSERT INTO runs (group_id, member, kind, preset, title, config, seed, device, versions,
                   host, pid, started, heartbeat, status, epochs_planned, book_figure, members)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    group_id,
                    member,
                    kind,
                    spec.name,
                    spec.title,
                    json.dumps(spec.to_dict()),
                    seed,
                    device,
                    json.dumps(versions or base_versions()),
                    socket.gethostname(),
                    os.getpid(),
                    now,
                    now,
                    status,
                    spec.train.epochs,
                    spec.book_figure,
                    json.dumps(members or []),
                ),
            )
            if status == "running":  # held before the commit: no reader ever sees it running unlocked
                self.hold(f"run-{cur.lastrowid}")
        return cur.lastrowid

    def claim(self, run_id: int, device: str) -> None:
        """Make an interrupted or failed run this process's, in one step: its
        lock, then (in one transaction) the check that it may resume and the
        mark that it runs. Two resumes of one run: the second is refused."""
        key = f"run-{run_id}"
        if key not in self._locks and self.hold(key) is None:
            raise UserError(f"run {run_id} is being trained by another process; stop it first, or wait")
        with self._tx():
            row = self.db.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None or row["status"] == "finished":
                self.release(key)
                raise UserError(f"run {run_id} is {'gone' if row is None else 'already finished'}; nothing to resume")
            self.db.execute(
                "UPDATE runs SET status='running', pid=?, host=?, heartbeat=?, device=?, ended=NULL, error=NULL, "
                "progress=NULL "
                "WHERE id=?",
                (os.getpid(), socket.gethostname(), time.time(), device, run_id),
            )

    def set_path(self, run_id: int, path: str, device_name: str | None) -> None:
        """How the run trains (eager, batched N, captured; a fallback is appended) and on what."""
        with self._tx():
            self.db.execute("UPDATE runs SET path=?, device_name=? WHERE id=?", (path, device_name, run_id))

    def alive(self, run: Run) -> bool:
        """Whether a process of this machine holds the run's lock (its own, too)."""
        return liveness.held(self.path, f"run-{run.id}")

    def stop_run(self, run_id: int) -> int | None:
        """SIGTERM to the process proven to train `run_id`; its pid, or None."""
        return liveness.stop_holder(self.path, f"run-{run_id}")

    def set_progress(self, run_id: int, progress: dict[str, Any]) -> None:
        with self._tx():
            self.db.execute(
                "UPDATE runs SET progress=?, heartbeat=? WHERE id=?", (json.dumps(progress), time.time(), run_id)
            )

    def set_result(
        self,
        run_id: int,
        *,
        best_val: float | None = None,
        best_epoch: int | None = None,
        test_at_best: float | None = None,
    ) -> None:
        with self._tx():
            self.db.execute(
                "UPDATE runs SET best_val=?, best_epoch=?, test_at_best=? WHERE id=?",
                (best_val, best_epoch, test_at_best, run_id),
            )

    def finish(self, run_id: int, status: str, error: str | None = None) -> None:
        assert status in STATUSES
        with self._tx():
            self.db.execute(
                "UPDATE runs SET status=?, ended=?, heartbeat=?, error=? WHERE id=?",
                (status, time.time(), time.time(), error, run_id),
            )
        self.release(f"run-{run_id}")

    def mark_stale(self) -> int:
        """Runs left 'running' on this host whose lock no process holds (killed,
        machine restarted) become 'interrupted', and so resumable. Only where
        the store may be written, and writing only when there is such a run: a
        read-only, full or damaged store is read as it is."""
        if not self.writable or not self.orphaned():
            return 0
        try:
            with self._tx():  # no run can be claimed between the check and the mark
                stale = self.orphaned()
                for run_id in stale:
                    self.db.execute(
                        "UPDATE runs SET status='interrupted', ended=?, error=? WHERE id=?",
                        (time.time(), "the process running it ended without finishing", run_id),
                    )
        except (UserError, sqlite3.OperationalError):  # refused (damaged) or failed (full disk): reads go on
            return 0
        return len(stale)

    def orphaned(self) -> list[int]:
        """Runs left 'running' on this host whose lock no process holds."""
        rows = self.db.execute("SELECT id FROM runs WHERE status='running' AND host=?", (socket.gethostname(),))
        return [r["id"] for r in rows if not liveness.held(self.path, f"run-{r['id']}")]

    def delete_runs(self, run_ids: list[int]) -> None:
        """The runs and everything they own, in one transaction."""
        with self._tx():
            for table in ("runs",) + RUN_TABLES:
                column = "id" if table == "runs" else "run_id"
                self.db.executemany(f"DELETE FROM {table} WHERE {column}=?", [(r,) for r in run_ids])

    # ------------------------------------------------------------ reading

    def run(self, run_id: int | str, unreadable: bool = False) -> Run:
        """The run `run_id`; one whose row cannot be read is refused in one line
        (or returned, marked, with `unreadable`: for `rm`)."""
        try:
            key = int(run_id)
        except (TypeError, ValueError):
            raise UserError(f"{str(run_id)[:40]!r} is not a run id; `convlab runs` lists them") from None
        if not 1 <= key <= MAX_ID:
            raise UserError(
                f"run {str(key)[:24]}{'…' if len(str(key)) > 24 else ''} does not exist in {self.path}; "
                "`convlab runs` lists them"
            )
        row = self.db.execute(f"{RUN_SELECT} WHERE id=?", (key,)).fetchone()
        if row is None:
            raise UserError(f"run {key} does not exist in {self.path}; `convlab runs` lists them")
        run = Run.from_row(row)
        if run.unreadable and not unreadable:
            raise UserError(f"run {key} cannot be read ({run.error}); `convlab rm {key}` removes it")
        return run

    def runs(
        self,
        limit: int | None = None,
        preset: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        unreadable: bool = False,
    ) -> list[Run]:
        """Newest first; runs whose rows cannot be read only with `unreadable` (listings)."""
        sql, args = f"{RUN_SELECT} WHERE 1=1", []
        if tag:
            sql += " AND id IN (SELECT run_id FROM tags WHERE tag=?)"
            args.append(tag)
        if preset:
            sql += " AND preset=?"
            args.append(preset)
        if status:
            sql += " AND status=?"
            args.append(status)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        runs = [Run.from_row(r) for r in self.db.execute(sql, args)]
        return runs if unreadable else [r for r in runs if not r.unreadable]

    def group_runs(self, group_id: int) -> list[Run]:
        rows = self.db.execute(f"{RUN_SELECT} WHERE group_id=? ORDER BY member, id", (group_id,))
        return [run for run in map(Run.from_row, rows) if not run.unreadable]

    def group(self, group_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM groups WHERE id=?", (group_id,)).fetchone()
        if row is None:
            raise UserError(f"group {group_id} does not exist in {self.path}")
        d = dict(row)
        d["config"] = json.loads(d["config"])
        return d
