"""The confusion matrix of a finished run on the 10,000 test digits: rows are
the true digits, columns the network's answers."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from convlab.confusion import confusion  # noqa: F401  (the screens import it from here)


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
