"""The confusion matrix of a run on the 10,000 test digits (rows: the true
digit, columns: the network's answer), from what the store keeps."""

from __future__ import annotations

import numpy as np

from convlab.store import Mistake


def confusion(predictions: np.ndarray, mistakes: list[Mistake]) -> np.ndarray:
    """From the stored predictions and the misclassified digits alone (no
    dataset needed): off the diagonal from the mistakes; on it, the answers
    for each digit less those that were wrong."""
    matrix = np.zeros((10, 10), dtype=np.int64)
    for m in mistakes:
        matrix[m.label, m.predicted] += 1
    answered = np.bincount(predictions.astype(np.int64), minlength=10)[:10]
    wrong_answers = matrix.sum(axis=0)
    np.fill_diagonal(matrix, answered - wrong_answers)
    return matrix
