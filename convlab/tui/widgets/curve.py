"""Validation accuracy per epoch (or the training loss) as a plotext plot, with
the book's figure as a reference line and other runs of the preset overlaid.

The y-range follows the data, so that 98.9 against 99.2 is readable; `full`
shows 0–100 instead."""

from __future__ import annotations

from dataclasses import dataclass

from textual.reactive import reactive
from textual_plotext import PlotextPlot

BOOK_NEAR = 3.0  # the book's line widens the range only when the data come this close


@dataclass
class Series:
    label: str
    epochs: list[int]
    values: list[float]


class CurvePlot(PlotextPlot):
    full_range: reactive[bool] = reactive(False)
    show_loss: reactive[bool] = reactive(False)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.accuracy: Series = Series("this run", [], [])
        self.loss: Series = Series("this run", [], [])
        self.others: list[Series] = []  # other runs of the same preset (accuracy)
        self.book: float | None = None
        self.planned = 2  # the run's epochs: the x axis spans them from the start

    def set_data(self, accuracy: Series, loss: Series, others: list[Series], book: float | None,
                 planned: int | None = None) -> None:
        self.accuracy, self.loss, self.others, self.book = accuracy, loss, others, book
        self.planned = planned or 2
        self.redraw()

    def watch_full_range(self) -> None:
        self.redraw()

    def watch_show_loss(self) -> None:
        self.redraw()

    @property
    def points(self) -> int:
        """How many epochs of this run the plot shows."""
        return len(self.accuracy.values)

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if self.show_loss:
            self._draw_loss(plt)
        else:
            self._draw_accuracy(plt)
        self.refresh()

    def _draw_accuracy(self, plt) -> None:
        # The first epoch is far below the rest: leaving it out of the range
        # (once there are three) keeps the differences near the top readable.
        data = [v for s in (self.accuracy, *self.others) for v in (s.values[1:] if len(s.values) >= 3 else s.values)]
        for other in self.others:
            if other.values:
                plt.plot(other.epochs, other.values, label=other.label, color="gray", marker="braille")
        if self.accuracy.values:
            plt.plot(self.accuracy.epochs, self.accuracy.values, label=self.accuracy.label,
                     color="cyan", marker="hd")
        low, high = self._range(data)
        title = "validation accuracy (%) by epoch"
        last = max([self.planned] + [s.epochs[-1] for s in (self.accuracy, *self.others) if s.epochs])
        if self.book is not None and low <= self.book <= high:
            plt.hline(self.book, "orange")
            plt.text(f"book {self.book:.2f}", x=max(2, last), y=self.book, color="orange", alignment="right")
        elif self.book is not None:
            title += f" · book {self.book:.2f} above the scale (y: 0–100)"
        plt.ylim(low, high)
        self._epoch_axis(last)
        plt.title(title)

    def _draw_loss(self, plt) -> None:
        if self.loss.values:
            plt.plot(self.loss.epochs, self.loss.values, label="training loss", color="magenta", marker="hd")
            self._epoch_axis(max(self.planned, self.loss.epochs[-1]))
        plt.title("training loss (mean cross-entropy) by epoch")

    def _epoch_axis(self, last: int) -> None:
        """Whole epochs on the x axis, at most about ten ticks."""
        last = max(2, last)
        step = max(1, -(-last // 10))
        self.plt.xlim(1, last)
        self.plt.xticks(list(range(1, last + 1, step)))

    def _range(self, data: list[float]) -> tuple[float, float]:
        if self.full_range or not data:
            return 0.0, 100.0
        low, high = min(data), max(data)
        if self.book is not None and high < self.book <= high + BOOK_NEAR:
            high = self.book
        pad = max(0.25, (high - low) * 0.1)
        return max(0.0, low - pad), min(100.0, high + pad)
