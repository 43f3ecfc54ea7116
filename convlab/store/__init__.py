"""The run store: one SQLite file (WAL mode) that every part of convlab shares.

A run writes its config, per-epoch figures, first-layer filters, checkpoint,
test predictions and misclassified digits here; the CLI, the TUI and the
exporters only read. WAL lets a run in another process (or over SSH) write
while the TUI reads, so runs from elsewhere appear live.

Accuracies are stored in percent (99.23), as the book prints them.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convlab.config.paths import store_path as default_path
from convlab.errors import UserError
from convlab.store import liveness
from convlab.store.schema import open_db

STATUSES = ("running", "finished", "failed", "interrupted", "diverged")
MAX_ID = 2**63 - 1  # SQLite's largest integer


# A run's row with its note and tags (kept in tables of their own, so a store
# written before they existed needs no change).
RUN_SELECT = (
    "SELECT runs.*, (SELECT text FROM notes WHERE run_id=runs.id) AS note, "
    "(SELECT group_concat(tag, ' ') FROM (SELECT tag FROM tags WHERE run_id=runs.id ORDER BY tag)) "
    "AS tags FROM runs"
)
# What a run owns in the other tables, deleted with it.
RUN_TABLES = ("epochs", "mistakes", "predictions", "checkpoints", "notes", "tags")

if TYPE_CHECKING:
    import numpy as np
# numpy is imported where arrays are made, not here: the lab's home screen
# reads the store without any, and numpy is a sixth of its first frame.


def to_npy(array: np.ndarray) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def from_npy(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.load(io.BytesIO(blob), allow_pickle=False)


@dataclass
class Run:
    id: int
    group_id: int | None
    member: int
    kind: str
    preset: str
    title: str
    config: dict[str, Any]
    seed: int | None
    device: str | None
    versions: dict[str, str]
    host: str | None
    pid: int | None
    started: float | None
    ended: float | None
    heartbeat: float | None
    status: str
    epochs_planned: int | None
    epochs_done: int
    best_val: float | None
    best_epoch: int | None
    test_at_best: float | None
    book_figure: float | None
    progress: dict[str, Any] = field(default_factory=dict)
    members: list[int] = field(default_factory=list)
    error: str | None = None
    note: str = ""
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Run:
        """By column name: columns a store adds are ignored, missing ones read as empty."""
        d = dict(row)
        values = {f.name: d.get(f.name) for f in fields(cls)}
        values["config"] = json.loads(values["config"] or "{}")
        values["versions"] = json.loads(values["versions"] or "{}")
        values["progress"] = json.loads(values["progress"] or "{}")
        values["members"] = json.loads(values["members"] or "[]")
        values["note"] = values["note"] or ""
        values["tags"] = (values["tags"] or "").split()
        values["member"] = values["member"] or 0
        values["epochs_done"] = values["epochs_done"] or 0
        values["kind"] = values["kind"] or "train"
        values["title"] = values["title"] or ""
        values["status"] = values["status"] or "failed"
        return cls(**values)

    @property
    def spec(self):
        from convlab.config.spec import spec_from_dict

        return spec_from_dict(self.config)

    @property
    def data(self) -> str:
        return self.config.get("train", {}).get("data", "")

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or self.heartbeat or time.time()) - self.started


@dataclass
class Epoch:
    epoch: int
    train_loss: float | None
    val_acc: float | None
    test_acc: float | None
    seconds: float | None
    eta: float | None
    val_loss: float | None = None  # None for epochs stored before store version 3


@dataclass
class Mistake:
    index: int
    label: int
    predicted: int
    image: np.ndarray  # (28, 28) uint8


def mistakes_of(predictions: np.ndarray, test) -> list[Mistake]:
    """The misclassified digits of a test split (images, labels) under `predictions`."""
    import numpy as np

    wrong = np.flatnonzero(predictions != test.labels)
    return [Mistake(int(i), int(test.labels[i]), int(predictions[i]), test.images[i]) for i in wrong]


def base_versions() -> dict[str, str]:
    """The versions every run records; the engine adds torch's (engine.library_versions)
    for the runs it trains, so storing a vote needs no torch."""
    import platform

    import numpy as np

    import convlab

    return {"python": platform.python_version(), "convlab": convlab.__version__, "numpy": np.__version__}


class Store:
    """One store file. Runs this process creates or claims hold their liveness
    lock (see liveness.py) until they finish or the store is closed."""

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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _tx(self):
        return _Transaction(self.db)

    def version(self) -> int:
        """Changes whenever another connection commits: cheap polling for the TUI."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

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
        engine.library_versions(); the default, base_versions(), has no torch)."""
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

    def add_epoch(
        self, run_id: int, record: dict[str, Any], filters: np.ndarray | None = None, checkpoint: bytes | None = None
    ) -> None:
        """One finished epoch and its checkpoint, in one transaction: a run
        killed at any moment resumes from the last epoch stored here."""
        with self._tx():
            self.db.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, train_loss, val_acc, test_acc, seconds, eta, filters,"
                " val_loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    record["epoch"],
                    record.get("train_loss"),
                    record.get("val_acc"),
                    record.get("test_acc"),
                    record.get("seconds"),
                    record.get("eta"),
                    None if filters is None else to_npy(filters),
                    record.get("val_loss"),
                ),
            )
            self.db.execute(
                "UPDATE runs SET epochs_done=?, best_val=?, best_epoch=?, test_at_best=?, heartbeat=? WHERE id=?",
                (
                    record["epoch"],
                    record.get("best_val"),
                    record.get("best_epoch"),
                    record.get("test_at_best"),
                    time.time(),
                    run_id,
                ),
            )
            if checkpoint is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO checkpoints (run_id, epoch, state) VALUES (?, ?, ?)",
                    (run_id, record["epoch"], checkpoint),
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

    def save_outcome(self, run_id: int, predictions: np.ndarray, mistakes: list[Mistake]) -> None:
        """The test-set predictions (for ensembles) and the misclassified digits."""
        import numpy as np

        with self._tx():
            self.db.execute(
                "INSERT OR REPLACE INTO predictions (run_id, test) VALUES (?, ?)",
                (run_id, predictions.astype(np.uint8).tobytes()),
            )
            self.db.execute("DELETE FROM mistakes WHERE run_id=?", (run_id,))
            self.db.executemany(
                "INSERT INTO mistakes (run_id, idx, label, predicted, image) VALUES (?, ?, ?, ?, ?)",
                [(run_id, m.index, m.label, m.predicted, np.asarray(m.image, np.uint8).tobytes()) for m in mistakes],
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
        the store may be written: a read-only store is read as it is."""
        if not self.writable:
            return 0
        with self._tx():  # no run can be claimed between the check and the mark
            rows = self.db.execute("SELECT id FROM runs WHERE status='running' AND host=?", (socket.gethostname(),))
            stale = [r["id"] for r in rows if not liveness.held(self.path, f"run-{r['id']}")]
            for run_id in stale:
                self.db.execute(
                    "UPDATE runs SET status='interrupted', ended=?, error=? WHERE id=?",
                    (time.time(), "the process running it ended without finishing", run_id),
                )
        return len(stale)

    # ------------------------------------------------------------ reproductions (convlab reproduce)

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

    # ------------------------------------------------------------ sweeps (convlab sweep)

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

    # ------------------------------------------------------------ reading

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

    def sweep_of_group(self, group_id: int | None) -> tuple[int, dict[str, Any]] | None:
        """The sweep a group is a point of, and its swept fields."""
        row = self.db.execute("SELECT sweep_id, fields FROM sweep_points WHERE group_id=?", (group_id,)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def run(self, run_id: int | str) -> Run:
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
        return Run.from_row(row)

    def runs(
        self, limit: int | None = None, preset: str | None = None, status: str | None = None, tag: str | None = None
    ) -> list[Run]:
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
        return [Run.from_row(r) for r in self.db.execute(sql, args)]

    def group_runs(self, group_id: int) -> list[Run]:
        rows = self.db.execute(f"{RUN_SELECT} WHERE group_id=? ORDER BY member, id", (group_id,))
        return [Run.from_row(r) for r in rows]

    def group(self, group_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM groups WHERE id=?", (group_id,)).fetchone()
        if row is None:
            raise UserError(f"group {group_id} does not exist in {self.path}")
        d = dict(row)
        d["config"] = json.loads(d["config"])
        return d

    def epochs(self, run_id: int) -> list[Epoch]:
        # a read-only store older than version 3 is not migrated: it lacks val_loss, read as NULL
        loss = "val_loss" if self._has_column("epochs", "val_loss") else "NULL AS val_loss"
        rows = self.db.execute(
            f"SELECT epoch, train_loss, val_acc, test_acc, seconds, eta, {loss} FROM epochs WHERE run_id=? "
            "ORDER BY epoch",
            (run_id,),
        )
        return [Epoch(**dict(r)) for r in rows]

    def _has_column(self, table: str, column: str) -> bool:
        key = (table, column)
        if key not in self._columns:  # asked once per connection: a store's columns change only by migration
            self._columns[key] = any(r[1] == column for r in self.db.execute(f"PRAGMA table_info({table})"))
        return self._columns[key]

    def filters(self, run_id: int, epoch: int | None = None) -> np.ndarray | None:
        """The first layer's filters (maps, 5, 5) after `epoch` (default: the latest)."""
        if epoch is None:
            row = self.db.execute(
                "SELECT filters FROM epochs WHERE run_id=? ORDER BY epoch DESC LIMIT 1", (run_id,)
            ).fetchone()
        else:
            row = self.db.execute("SELECT filters FROM epochs WHERE run_id=? AND epoch=?", (run_id, epoch)).fetchone()
        return None if row is None or row[0] is None else from_npy(row[0])

    def mistakes(self, run_id: int) -> list[Mistake]:
        import numpy as np

        rows = self.db.execute(
            "SELECT idx, label, predicted, image FROM mistakes WHERE run_id=? ORDER BY idx", (run_id,)
        )
        return [Mistake(r[0], r[1], r[2], np.frombuffer(r[3], np.uint8).reshape(28, 28)) for r in rows]

    def predictions(self, run_id: int) -> np.ndarray | None:
        import numpy as np

        row = self.db.execute("SELECT test FROM predictions WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else np.frombuffer(row[0], np.uint8).copy()

    def checkpoint(self, run_id: int) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT epoch, state FROM checkpoints WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    # ------------------------------------------------------------ managing

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

    def delete_runs(self, run_ids: list[int]) -> None:
        """The runs and everything they own, in one transaction."""
        with self._tx():
            for table in ("runs",) + RUN_TABLES:
                column = "id" if table == "runs" else "run_id"
                self.db.executemany(f"DELETE FROM {table} WHERE {column}=?", [(r,) for r in run_ids])

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


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (or ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *rest) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
