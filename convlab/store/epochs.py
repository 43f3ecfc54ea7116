"""What a run produces: each epoch's figures, first-layer filters and
checkpoint, then its outcome (test predictions, misclassified digits and the
best-validation parameters, kept when `gc` drops the checkpoint)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from convlab.store.connection import Connection
from convlab.store.records import Epoch, Mistake, from_npy, to_npy

if TYPE_CHECKING:
    import numpy as np

    from convlab.runs import events


class Epochs(Connection):
    # ------------------------------------------------------------ writing

    def add_epoch(self, run_id: int, event: events.Epoch) -> None:
        """One finished epoch with its filters and checkpoint, in one transaction:
        a run killed at any moment resumes from the last epoch stored here."""
        with self._tx():
            self.db.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, train_loss, val_acc, test_acc, seconds, eta, filters,"
                " val_loss, images_per_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    event.epoch,
                    event.train_loss,
                    event.val_acc,
                    event.test_acc,
                    event.seconds,
                    event.learning_rate,
                    None if event.filters is None else to_npy(event.filters),
                    event.val_loss,
                    event.images_per_s,
                ),
            )
            self.db.execute(
                "UPDATE runs SET epochs_done=?1, best_val=?2, best_epoch=?3, test_at_best=?4, heartbeat=?5, "
                "peak_memory=coalesce(max(peak_memory, ?6), peak_memory, ?6) WHERE id=?7",  # the run's peak so far
                (
                    event.epoch,
                    event.best_val,
                    event.best_epoch,
                    event.test_at_best,
                    time.time(),
                    event.peak_memory,
                    run_id,
                ),
            )
            if event.checkpoint is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO checkpoints (run_id, epoch, state) VALUES (?, ?, ?)",
                    (run_id, event.epoch, event.checkpoint),
                )

    def save_outcome(
        self,
        run_id: int,
        predictions: np.ndarray,
        mistakes: list[Mistake],
        weights: tuple[int, bytes] | None = None,
    ) -> None:
        """The test-set predictions (for ensembles), the misclassified digits and
        `weights`: (best epoch, parameters as convlab/inspect/weights.py writes them)."""
        import numpy as np

        with self._tx():
            if weights is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO weights (run_id, epoch, params) VALUES (?, ?, ?)", (run_id, *weights)
                )
            self.db.execute(
                "INSERT OR REPLACE INTO predictions (run_id, test) VALUES (?, ?)",
                (run_id, predictions.astype(np.uint8).tobytes()),
            )
            self.db.execute("DELETE FROM mistakes WHERE run_id=?", (run_id,))
            self.db.executemany(
                "INSERT INTO mistakes (run_id, idx, label, predicted, image) VALUES (?, ?, ?, ?, ?)",
                [(run_id, m.index, m.label, m.predicted, np.asarray(m.image, np.uint8).tobytes()) for m in mistakes],
            )

    # ------------------------------------------------------------ reading

    def epochs(self, run_id: int) -> list[Epoch]:
        # a read-only store older than version 3 is not migrated: it lacks val_loss, read as NULL
        loss = "val_loss" if self._has_column("epochs", "val_loss") else "NULL AS val_loss"
        rate = "images_per_s" if self._has_column("epochs", "images_per_s") else "NULL AS images_per_s"
        rows = self.db.execute(
            f"SELECT epoch, train_loss, val_acc, test_acc, seconds, eta, {loss}, {rate} FROM epochs WHERE run_id=? "
            "ORDER BY epoch",
            (run_id,),
        )
        # a damaged figure (text, bytes: a hand edit, a disk error) reads as missing, never as a crash
        epochs = [{k: _number(v) for k, v in dict(r).items()} for r in rows]
        return [Epoch(**e) for e in epochs if isinstance(e["epoch"], int)]

    def filters(self, run_id: int, epoch: int | None = None) -> np.ndarray | None:
        """The first layer's filters (maps, 5, 5) after `epoch` (default: the latest)."""
        if epoch is None:
            row = self.db.execute(
                "SELECT filters FROM epochs WHERE run_id=? ORDER BY epoch DESC LIMIT 1", (run_id,)
            ).fetchone()
        else:
            row = self.db.execute("SELECT filters FROM epochs WHERE run_id=? AND epoch=?", (run_id, epoch)).fetchone()
        return None if row is None else _array(row[0])

    def checkpoint(self, run_id: int) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT epoch, state FROM checkpoints WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def weights(self, run_id: int) -> tuple[int, bytes] | None:
        """(best epoch, parameters) of a finished run; None for a run finished before store version 4."""
        row = self.db.execute("SELECT epoch, params FROM weights WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def keeps_network(self, run_id: int) -> bool:
        """Whether the run's parameters are stored (best weights or a checkpoint), without reading them."""
        sql = "SELECT EXISTS(SELECT 1 FROM weights WHERE run_id=?) OR EXISTS(SELECT 1 FROM checkpoints WHERE run_id=?)"
        return bool(self.db.execute(sql, (run_id, run_id)).fetchone()[0])

    def mistakes(self, run_id: int) -> list[Mistake]:
        import numpy as np

        rows = self.db.execute(
            "SELECT idx, label, predicted, image FROM mistakes WHERE run_id=? ORDER BY idx", (run_id,)
        )
        return [
            Mistake(r[0], r[1], r[2], np.frombuffer(r[3], np.uint8).reshape(28, 28))
            for r in rows
            if all(isinstance(v, int) for v in r[:3]) and isinstance(r[3], bytes) and len(r[3]) == 28 * 28
        ]  # a damaged digit is left out

    def predictions(self, run_id: int) -> np.ndarray | None:
        import numpy as np

        row = self.db.execute("SELECT test FROM predictions WHERE run_id=?", (run_id,)).fetchone()
        if row is None or not isinstance(row[0], bytes):  # a damaged blob: as if none were stored
            return None
        return np.frombuffer(row[0], np.uint8).copy()


def _number(value):
    """A stored figure, or None where the row holds something else."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _array(blob) -> np.ndarray | None:
    """Stored filters, (maps, k, k) or (maps, 1, k, k), or None where the blob is absent or damaged."""
    if not isinstance(blob, bytes):
        return None
    try:
        array = from_npy(blob)
    except (ValueError, OSError, EOFError):
        return None
    return array if array.ndim in (3, 4) and array.dtype.kind == "f" else None
