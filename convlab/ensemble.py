"""Plurality vote of an ensemble, as the book's: each network votes with its
argmax and the most votes win. Ties go to the smallest digit among the tied
(a stated rule, so the result does not depend on member order)."""

from __future__ import annotations

import numpy as np

from convlab.store import Run, Store, mistakes_of


def vote(predictions: list[np.ndarray]) -> np.ndarray:
    """(members × N) predicted labels → (N,) voted labels."""
    stacked = np.stack([np.asarray(p, dtype=np.int64) for p in predictions])
    counts = np.zeros((10, stacked.shape[1]), dtype=np.int64)
    for row in stacked:
        counts[row, np.arange(stacked.shape[1])] += 1
    return counts.argmax(axis=0).astype(np.uint8)  # argmax takes the first (smallest) on ties


def store_vote(store: Store, spec, members: list[Run], test, group_id: int | None = None) -> Run:
    """Vote with the members' stored test predictions and keep the vote as a
    run of kind 'ensemble' (accuracy, predictions, misclassified digits).
    `test` is the MNIST test split the members predicted."""
    voted = vote([store.predictions(r.id) for r in members])
    run_id = store.create_run(spec, group_id=group_id, member=len(members) if group_id else 0, kind="ensemble",
                              members=[r.id for r in members], device=members[0].device)
    store.set_result(run_id, test_at_best=float((voted == test.labels).mean() * 100.0))
    store.save_outcome(run_id, voted, mistakes_of(voted, test))
    store.finish(run_id, "finished")
    return store.run(run_id)
