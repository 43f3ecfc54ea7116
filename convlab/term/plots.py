"""Validation curves as plotext plots, shared by `convlab compare` and the
lab's compare screen (render.py draws the pictures; this draws the curves)."""

from __future__ import annotations

import math
import sys

SERIES_COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red", "white")  # plotext and rich both know these


def draw_series(plt, series, legend: bool = True, rows: int = 12) -> None:
    """Validation curves on a plotext figure (the module, or the lab's PlotextPlot.plt).
    Without `legend` the curves take SERIES_COLORS in turn, for a legend drawn
    outside the plot (plotext's own covers data on a small plot). `rows`: the
    plot's height, which bounds how many y ticks fit."""
    for i, (label, points) in enumerate(series):
        xs, ys = [x for x, _ in points], [y for _, y in points]
        style = {"label": label} if legend else {"color": SERIES_COLORS[i % len(SERIES_COLORS)]}
        if len(points) == 1:  # one epoch: a braille dot would hardly show
            plt.scatter(xs, ys, marker="●", **style)
        else:
            plt.plot(xs, ys, marker="braille", **style)
    values = [y for _, points in series for y in ranged_values([y for _, y in points])]
    if values:
        low, high, ticks = round_range(values, rows)
        plt.ylim(low, high)
        plt.yticks(ticks, tick_labels(ticks))
    epochs = sorted({x for _, points in series for x, _ in points})
    if epochs:
        plt.xticks(epochs if len(epochs) <= 12 else epochs[:: -(-len(epochs) // 12)])
    plt.title("validation accuracy (%)")
    plt.xlabel("epoch")


def curves_text(store, rows, width: int = 100, height: int = 18) -> str:
    """The rows' validation curves overlaid, as a plotext text plot."""
    import plotext as plt

    from convlab.results.curves import curve_series

    series = curve_series(store, rows)
    if not series:
        return ""
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    draw_series(plt, series, rows=height - 4)
    text = plt.build()
    return text if sys.stdout.isatty() else plt.uncolorize(text)


def eta_text(points: list[tuple[int, float]], width: int = 90, height: int = 10) -> str:
    """A run's learning rate η per epoch as a plotext plot, a tick at each η it took (`show`, when a schedule changed it)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    epochs, etas = [x for x, _ in points], [y for _, y in points]
    plt.plot(epochs, etas, marker="braille")
    changes = [points[0]] + [(x, y) for (_, before), (x, y) in zip(points, points[1:]) if y != before]
    plt.yticks([y for _, y in changes], [f"{y:g}" for _, y in changes])
    plt.xticks(epochs if len(epochs) <= 12 else epochs[:: -(-len(epochs) // 12)])
    plt.title("learning rate η by epoch")
    plt.xlabel("epoch")
    text = plt.build()
    return text if sys.stdout.isatty() else plt.uncolorize(text)


# ---------------------------------------------------------------- the y axis

STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0)  # round tick steps, in accuracy points
BOOK_NEAR = 3.0  # the book's figure widens the range only when the data come this close


def ranged_values(values: list[float]) -> list[float]:
    """The values a curve's range follows: from three epochs on, the first is far
    below the rest and is left out, so the differences near the top stay readable."""
    return values[1:] if len(values) >= 3 else values


def round_range(
    data: list[float], rows: int, book: float | None = None, full: bool = False
) -> tuple[float, float, list[float]]:
    """Round bounds and evenly spaced round ticks (98.5, 99.0, 99.5 …) around
    accuracies `data`, no more ticks than every other of `rows`; `full`: 0–100."""
    rows = max(3, rows)
    if full or not data:
        step = next(s for s in (20.0, 25.0, 50.0) if 100 / s <= max(2, rows // 2))
        return 0.0, 100.0, [i * step for i in range(int(100 / step) + 1)]
    low, high = min(data), max(data)
    if book is not None and high < book <= high + BOOK_NEAR:
        high = book
    step = next((s for s in STEPS if (high - low) / s <= min(6, rows // 2)), 20.0)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    if high - low < step * 2:  # room above and below a flat line
        low, high = low - step, high + step
    low, high = max(0.0, low), min(100.0, high)
    ticks = [round(low + i * step, 4) for i in range(int(round((high - low) / step)) + 1)]
    return low, high, ticks


def tick_labels(ticks: list[float]) -> list[str]:
    """As many decimals as the step needs: 98.5, 99.0, 99.5 or 90, 95, 100."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = 0 if step >= 1 else (1 if round(step * 10, 6) == int(round(step * 10, 6)) else 2)
    return [f"{value:.{decimals}f}" for value in ticks]
