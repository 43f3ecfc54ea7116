"""Validation curves as plotext plots, shared by `convlab compare` and the
lab's compare screen (render.py draws the pictures; this draws the curves)."""

from __future__ import annotations

import sys


def draw_series(plt, series) -> None:
    """Validation curves on a plotext figure (the module, or the lab's PlotextPlot.plt)."""
    for label, points in series:
        xs, ys = [x for x, _ in points], [y for _, y in points]
        if len(points) == 1:  # one epoch: a braille dot would hardly show
            plt.scatter(xs, ys, label=label, marker="●")
        else:
            plt.plot(xs, ys, label=label, marker="braille")
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
