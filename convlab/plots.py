"""Validation curves as plotext plots, shared by `convlab compare` and the
lab's compare screen (render.py draws the pictures; this draws the curves)."""

from __future__ import annotations

import sys


SERIES_COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red", "white")  # plotext and rich both know these


def draw_series(plt, series, legend: bool = True) -> None:
    """Validation curves on a plotext figure (the module, or the lab's PlotextPlot.plt).
    Without `legend` the curves take SERIES_COLORS in turn, for a legend drawn
    outside the plot (plotext's own covers data on a small plot)."""
    for i, (label, points) in enumerate(series):
        xs, ys = [x for x, _ in points], [y for _, y in points]
        style = {"label": label} if legend else {"color": SERIES_COLORS[i % len(SERIES_COLORS)]}
        if len(points) == 1:  # one epoch: a braille dot would hardly show
            plt.scatter(xs, ys, marker="●", **style)
        else:
            plt.plot(xs, ys, marker="braille", **style)
    epochs = sorted({x for _, points in series for x, _ in points})
    if epochs:
        plt.xticks(epochs if len(epochs) <= 12 else epochs[::-(-len(epochs) // 12)])
    plt.title("validation accuracy (%)")
    plt.xlabel("epoch")


def curves_text(store, rows, width: int = 100, height: int = 18) -> str:
    """The rows' validation curves overlaid, as a plotext text plot."""
    import plotext as plt

    from convlab.export import curve_series

    series = curve_series(store, rows)
    if not series:
        return ""
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    draw_series(plt, series)
    text = plt.build()
    return text if sys.stdout.isatty() else plt.uncolorize(text)
