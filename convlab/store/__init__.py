"""The run store: one SQLite file (WAL mode) that every part of convlab shares.

A run writes its config, per-epoch figures, first-layer filters, checkpoint,
test predictions and misclassified digits here; the CLI, the TUI and the
exporters only read. WAL lets a run in another process (or over SSH) write
while the TUI reads, so runs from elsewhere appear live.

Accuracies are stored in percent (99.23), as the book prints them.

One module per concept, assembled here into `Store`: connection (the file,
transactions, liveness locks), runs, epochs, sweeps, reproductions, notes
(notes and tags), housekeeping; records holds what they read back; schema
opens and migrates the file; liveness proves which process trains a run.
"""

from __future__ import annotations

from convlab.store.epochs import Epochs
from convlab.store.housekeeping import Housekeeping
from convlab.store.notes import Notes
from convlab.store.records import Epoch, Mistake, Run, mistakes_of
from convlab.store.reproductions import Reproductions
from convlab.store.runs import RUN_TABLES, Runs
from convlab.store.sweeps import Sweeps

__all__ = [
    "RUN_TABLES",
    "Epoch",
    "Mistake",
    "Run",
    "Store",
    "mistakes_of",
]


class Store(Runs, Epochs, Sweeps, Reproductions, Notes, Housekeeping):
    """One store file. Runs this process creates or claims hold their liveness
    lock (see liveness.py) until they finish or the store is closed."""
