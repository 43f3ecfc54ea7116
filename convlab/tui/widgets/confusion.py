"""The confusion matrix of a finished run on the 10,000 test digits: rows are
the true digits, columns the network's answers."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

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


class ConfusionMatrix(Widget):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.matrix: np.ndarray | None = None

    def show(self, matrix: np.ndarray | None) -> None:
        self.matrix = matrix
        self.refresh(layout=True)

    def render(self):
        if self.matrix is None:
            return Text("The confusion matrix appears here when the run finishes.", style="dim")
        m = self.matrix
        worst = max(1, int((m - np.diag(np.diag(m))).max()))
        table = Table(box=None, padding=(0, 1), show_edge=False, caption_justify="left",
                      caption=f"rows: true digit · columns: the network's · {np.trace(m):,} of {m.sum():,} right")
        table.add_column("", style="bold", justify="right")
        for d in range(10):
            table.add_column(str(d), justify="right", header_style="bold")
        for true in range(10):
            cells = []
            for answer in range(10):
                n = int(m[true, answer])
                if true == answer:
                    cells.append(Text(str(n), style="bold green"))
                elif n == 0:
                    cells.append(Text("·", style="dim"))
                else:
                    cells.append(Text(str(n), style="bold red" if n * 2 >= worst else "red"))
            table.add_row(str(true), *cells)
        return table
