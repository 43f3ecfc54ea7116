"""Validation accuracy per epoch (or the training and validation loss) as a plotext plot, with
the book's figure as a reference line and other runs of the preset overlaid.

The y-range follows the data at round ticks, so that 98.9 against 99.2 is
readable; `full` shows 0–100 instead. The legend is in the title, where it
covers no data; the book's figure is a line when in range, else an arrow at
the edge with the gap."""

from __future__ import annotations

from dataclasses import dataclass

from textual.reactive import reactive
from textual_plotext import PlotextPlot

from convlab.term.plots import ranged_values, round_range, tick_labels

MIN_ROWS, MIN_COLUMNS = 6, 24


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
        self.val_loss: Series = Series("validation", [], [])  # mean NLL over the validation set, per epoch
        self.others: list[Series] = []  # other runs of the same preset (accuracy)
        self.book: float | None = None
        self.planned = 2  # the run's epochs: the x axis spans them from the start
        self.steps: list[tuple[float, float]] = []  # (epoch + fraction, loss so far) within the current epoch
        self.etas: list[tuple[int, float]] = []  # (epoch, η) when a schedule changed η; else empty
        self.legend: list[tuple[str, str, str]] = []
        self._drawn: tuple | None = None  # what the figure was last drawn from (see set_data)
        self._built: tuple | None = None  # (size and theme, text): plotext's output for them

    def set_data(
        self,
        accuracy: Series,
        loss: Series,
        others: list[Series],
        book: float | None,
        planned: int | None = None,
        steps: list | None = None,
        val_loss: Series | None = None,
        etas: list[tuple[int, float]] | None = None,
    ) -> None:
        self.accuracy, self.loss, self.others, self.book = accuracy, loss, others, book
        self.etas = list(etas or [])
        # epochs stored before store version 3 have no validation loss: left out, not drawn as zero
        pairs = [(e, v) for e, v in zip(val_loss.epochs, val_loss.values) if v is not None] if val_loss else []
        self.val_loss = Series("validation", [e for e, _ in pairs], [v for _, v in pairs])
        self.planned = planned or 2
        self.steps = [tuple(p) for p in steps or []]
        # A progress step changes only the loss view: the accuracy view is not
        # drawn again for it (the store changes some 50 times an epoch).
        if self._what() != self._drawn:
            self.redraw()

    def _what(self) -> tuple:
        """What the figure shows, in the current view."""
        return (
            self.accuracy,
            self.loss,
            self.val_loss,
            self.others,
            self.book,
            self.planned,
            self.steps if self.show_loss else None,
            tuple(self.etas),
            self.show_loss,
            self.full_range,
        )

    def render(self):
        if self.size.height < MIN_ROWS or self.size.width < MIN_COLUMNS:
            return ""  # plotext inverts its labels when squeezed below this
        # plotext builds its whole text again on every render, and Textual
        # renders again whenever the screen is recomposed (help closing, a
        # panel switching): the text is kept until the figure or size changes.
        key = (self.size, self.app.theme)
        if self._built is None or self._built[0] != key:
            self._built = (key, super().render())
        return self._built[1]

    def on_resize(self) -> None:
        self.redraw()  # the ticks follow the height

    def watch_full_range(self) -> None:
        self.redraw()

    def watch_show_loss(self) -> None:
        self.redraw()

    @property
    def points(self) -> int:
        """How many epochs of this run the plot shows."""
        return len(self.accuracy.values)

    def redraw(self) -> None:
        self._drawn, self._built = self._what(), None
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if self.show_loss:
            self._draw_loss(plt)
        else:
            self._draw_accuracy(plt)
        self.refresh()

    def _draw_accuracy(self, plt) -> None:
        # this run sets the range; runs behind it only until it has a point (one at 10%
        # would squeeze a run at 87–92% onto 0–100), and are cut at the edges
        data = ranged_values(self.accuracy.values) or [v for s in self.others for v in ranged_values(s.values)]
        for other in self.others:
            if other.values:
                plt.plot(other.epochs, other.values, color="gray", marker="braille")
        if self.accuracy.values:
            plt.plot(self.accuracy.epochs, self.accuracy.values, color="cyan", marker="braille")
            plt.scatter(self.accuracy.epochs, self.accuracy.values, color="cyan", marker="●")
        low, high, ticks = self._range(data)
        last = max([self.planned] + [s.epochs[-1] for s in (self.accuracy, *self.others) if s.epochs])
        legend = [("●", self.accuracy.label, "cyan")]
        if self.others:
            legend.append(("⠤", ", ".join(o.label for o in self.others), "gray"))
        if self.book is not None:
            self._book_mark(plt, low, high, last)
        legend += self._eta_marks(plt, low, high)
        plt.ylim(low, high)
        plt.yticks(ticks, tick_labels(ticks))
        self._epoch_axis(last)
        self.legend = legend
        plt.title("validation accuracy (%) by epoch · " + " · ".join(f"{m} {label}" for m, label, _ in legend))

    def _book_mark(self, plt, low: float, high: float, last: int) -> None:
        """A line where the book's figure lies in range; otherwise an arrow at the edge with the gap."""
        x = max(2, last)
        if low <= self.book <= high:
            plt.hline(self.book, "orange")
            plt.text(f"book {self.book:.2f}", x=x, y=self.book, color="orange", alignment="right")
        elif self.book > high:
            plt.text(
                f"▲ book {self.book:.2f}, {self.book - high:.2f} above", x=x, y=high, color="orange", alignment="right"
            )
        else:
            plt.text(
                f"▼ book {self.book:.2f}, {low - self.book:.2f} below", x=x, y=low, color="orange", alignment="right"
            )

    def _draw_loss(self, plt) -> None:
        """The mean training loss of each epoch beside the validation loss (the
        same cost, without L2, on the validation set: the gap between them is
        overfitting), and within the current epoch the training loss so far at
        each progress step, so a long first epoch is not blank."""
        last = max([self.planned] + self.loss.epochs)
        for series, color in ((self.loss, "magenta"), (self.val_loss, "green")):
            if series.values:
                plt.plot(series.epochs, series.values, color=color, marker="braille")
                plt.scatter(series.epochs, series.values, color=color, marker="●")
        if self.steps:
            xs, ys = zip(*self.steps)
            plt.plot(list(xs), list(ys), color="yellow", marker="braille")
        self._epoch_axis(last)
        legend = [("●", "training", "magenta")]
        if self.val_loss.values:
            legend.append(("●", "validation", "green"))
        if self.steps:
            legend.append(("⠤", "this epoch so far", "yellow"))
        values = [v for s in (self.loss, self.val_loss) for v in s.values if v is not None]
        if values:
            legend += self._eta_marks(plt, min(values), max(values))
        self.legend = legend
        plt.title("loss (mean cross-entropy) by epoch · " + " · ".join(f"{m} {label}" for m, label, _ in legend))

    def _eta_marks(self, plt, low: float, high: float) -> list[tuple[str, str, str]]:
        """A line at each epoch whose η differs from the epoch before's, labelled with
        the new η (the schedule halved it there), the labels a row apart so that
        changes an epoch apart stay readable; the legend's entry, if any."""
        changes = [(x, eta) for (_, before), (x, eta) in zip(self.etas, self.etas[1:]) if eta != before]
        for i, (x, eta) in enumerate(changes):
            plt.vline(x, "yellow")
            y = high - (high - low) * (0.08 + 0.1 * (i % 4))
            plt.text(f"η {eta:g}", x=x, y=y, color="yellow", alignment="left")
        return [("│", "η changes", "yellow")] if changes else []

    def _epoch_axis(self, last: int) -> None:
        """Whole epochs on the x axis, at most about ten ticks."""
        last = max(2, last)
        step = max(1, -(-last // 10))
        self.plt.xlim(0 if self.show_loss else 1, last)
        self.plt.xticks(list(range(1, last + 1, step)))

    def _range(self, data: list[float]) -> tuple[float, float, list[float]]:
        """Round bounds and ticks around the data (and the book's figure when it is near)."""
        rows = max(3, (self.size.height or 12) - 4)
        return round_range(data, rows, book=self.book, full=self.full_range)
