"""Plurality vote of an ensemble, as the book's: each network votes with its
argmax and the most votes win. Ties go to the smallest digit among the tied
(a stated rule, so the result does not depend on member order)."""

from __future__ import annotations

import numpy as np


def vote(predictions: list[np.ndarray]) -> np.ndarray:
    """(members × N) predicted labels → (N,) voted labels."""
    stacked = np.stack([np.asarray(p, dtype=np.int64) for p in predictions])
    counts = np.zeros((10, stacked.shape[1]), dtype=np.int64)
    for row in stacked:
        counts[row, np.arange(stacked.shape[1])] += 1
    return counts.argmax(axis=0).astype(np.uint8)  # argmax takes the first (smallest) on ties
