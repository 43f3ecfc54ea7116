"""The confusion matrix of a finished run on the 10,000 test digits: rows are
the true digits, columns the network's answers."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from convlab.results.confusion import confusion  # noqa: F401  (the screens import it from here)


class ConfusionMatrix(Widget, can_focus=True):
    """Arrows move a cell cursor; Enter shows the misclassified digits of that
    cell (true digit, the network's answer), or all of them from the diagonal.
    A click on a cell moves the cursor there and chooses it, as Enter does."""

    BINDINGS = [
        Binding("up", "move(-1, 0)", show=False),
        Binding("down", "move(1, 0)", show=False),
        Binding("left", "move(0, -1)", show=False),
        Binding("right", "move(0, 1)", show=False),
        Binding("enter", "choose", "Those digits", key_display="⏎"),
    ]

    class CellChosen(Message):
        def __init__(self, label: int, predicted: int):
            super().__init__()
            self.label, self.predicted = label, predicted

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.matrix: np.ndarray | None = None
        self.cell: tuple[int, int] = (0, 0)

    def show(self, matrix: np.ndarray | None) -> None:
        self.matrix = matrix
        if matrix is not None and self.cell == (0, 0):
            off = matrix - np.diag(np.diag(matrix))  # start on the most frequent mistake
            self.cell = tuple(int(i) for i in np.unravel_index(int(off.argmax()), off.shape))
        self.refresh(layout=True)

    def action_move(self, rows: int, columns: int) -> None:
        self.cell = ((self.cell[0] + rows) % 10, (self.cell[1] + columns) % 10)
        self.refresh()

    def action_choose(self) -> None:
        if self.matrix is not None:
            self.post_message(self.CellChosen(*self.cell))

    def on_click(self, event: events.Click) -> None:
        # Each cell's text carries its (true, answer) in its style's meta (see
        # render), so the click needs no arithmetic on Rich's column widths;
        # a click between cells, on a label or the caption carries none.
        cell = event.style.meta.get("cell") if event.style else None
        if cell is None or self.matrix is None:
            return
        self.cell = (int(cell[0]), int(cell[1]))
        self.focus()
        self.refresh()
        self.action_choose()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def render(self):
        if self.matrix is None:
            return Text("The confusion matrix appears here when the run finishes.", style="dim")
        m = self.matrix
        worst = max(1, int((m - np.diag(np.diag(m))).max()))
        table = Table(
            box=None,
            padding=(0, 1),
            show_edge=False,
            caption_justify="left",
            caption=f"rows: true digit · columns: the network's · {np.trace(m):,} of {m.sum():,} right"
            + (" · ⏎ on a cell: its digits" if self.has_focus else ""),
        )
        table.add_column("", style="bold", justify="right")
        for d in range(10):
            table.add_column(str(d), justify="right", header_style="bold")
        for true in range(10):
            cells = []
            for answer in range(10):
                n = int(m[true, answer])
                if true == answer:
                    cell = Text(str(n), style="bold green")
                elif n == 0:
                    cell = Text("·", style="dim")
                else:
                    cell = Text(str(n), style="bold red" if n * 2 >= worst else "red")
                if self.has_focus and (true, answer) == self.cell:
                    cell.stylize("reverse")
                cell.stylize(Style.from_meta({"cell": (true, answer)}))  # for on_click
                cells.append(cell)
            table.add_row(str(true), *cells)
        return table
