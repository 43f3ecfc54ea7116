"""Digits, filters and curves as terminal pictures, shared by the TUI and the CLI.

Pictures use half-block cells (▀ with a foreground and a background grey), so
one character row shows two pixel rows and a 28×28 digit fits in 28×14 cells;
this reads well over plain SSH in any terminal with 256 or true colours. Where
colour is off (a pipe, NO_COLOR), `ascii_picture` gives a density ramp.

Shading follows the book: darker means larger (more ink, a larger weight).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.console import Group
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

RAMP = " .:-=+*#%@"


def normalise(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Scale to [0, 1]; a flat array becomes all zeros."""
    values = np.asarray(values, dtype=np.float64)
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    if high - low < 1e-12:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


Row = list[Segment]


@lru_cache(maxsize=65536)
def cell_style(top: int, bottom: int) -> Style:
    """Ink 255 → black, 0 → white (darker means larger, as in the book).
    Cached: a gallery of sixty digits is drawn in milliseconds, which keeps the
    lab's live view responsive while it updates."""
    return Style(
        color=Color.from_rgb(255 - top, 255 - top, 255 - top),
        bgcolor=Color.from_rgb(255 - bottom, 255 - bottom, 255 - bottom),
    )


def to_ink(levels: np.ndarray) -> np.ndarray:
    """Levels in [0, 1] as ink 0–255."""
    return np.clip(np.rint(np.asarray(levels, dtype=np.float64) * 255), 0, 255).astype(np.uint8)


def picture_rows(ink: np.ndarray) -> list[Row]:
    """An (h, w) uint8 ink image as ceil(h/2) rows of w ▀ segments."""
    if ink.shape[0] % 2:
        ink = np.vstack([ink, np.zeros((1, ink.shape[1]), dtype=ink.dtype)])
    rows = []
    for r in range(0, ink.shape[0], 2):
        top, bottom = ink[r].tolist(), ink[r + 1].tolist()
        rows.append([Segment("▀", cell_style(t, b)) for t, b in zip(top, bottom)])
    return rows


class Lines:
    """Rows of segments as a rich renderable, one row a line."""

    def __init__(self, rows: list[Row]):
        self.rows = rows

    def __rich_console__(self, console, options):
        newline = Segment.line()
        for row in self.rows:
            yield from row
            yield newline

    def __rich_measure__(self, console, options):
        width = max((sum(len(s.text) for s in row) for row in self.rows), default=0)
        return Measurement(width, width)


def halfblock(image: np.ndarray, scale: int = 1) -> Lines:
    """A 2-D array of levels in [0, 1] as rows of ▀ cells (two pixel rows each)."""
    img = np.asarray(image, dtype=np.float64)
    if scale > 1:
        img = img.repeat(scale, axis=0).repeat(scale, axis=1)
    return Lines(picture_rows(to_ink(img)))


def ascii_picture(image: np.ndarray) -> list[str]:
    """The same picture for a plain terminal: one character per pixel pair of columns."""
    img = np.asarray(image, dtype=np.float64)
    idx = np.clip((img * (len(RAMP) - 1)).round().astype(int), 0, len(RAMP) - 1)
    return ["".join(RAMP[i] * 2 for i in row) for row in idx]


def digit_levels(image: np.ndarray) -> np.ndarray:
    """A stored uint8 MNIST digit as levels in [0, 1] (1 = ink)."""
    return np.asarray(image, dtype=np.float64) / 255.0


def filter_levels(filters: np.ndarray) -> np.ndarray:
    """(maps, k, k) weights as levels, scaled together so sizes compare across maps."""
    return normalise(filters)


def tile(images: list[np.ndarray], columns: int, gap: int = 1) -> np.ndarray:
    """Lay same-sized level images out in a grid with `gap` blank pixels between."""
    if not images:
        return np.zeros((0, 0))
    h, w = images[0].shape
    rows = -(-len(images) // columns)
    out = np.zeros((rows * (h + gap) - gap, columns * (w + gap) - gap))
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = img
    return out


def filter_grid(filters: np.ndarray, columns: int = 10, scale: int = 2) -> Lines:
    """The first conv layer's filters as a grid of small pictures."""
    levels = filter_levels(filters)
    return halfblock(tile(list(levels), columns), scale=scale)


def digit_card(image: np.ndarray, label: int, predicted: int) -> Group:
    """One misclassified digit with its true label (top right) and the
    network's label (bottom right), as the book shows them."""
    picture = halfblock(digit_levels(image))
    width = image.shape[1]
    top = Text(f"{label}".rjust(width), style="bold green")
    bottom = Text(f"{predicted}".rjust(width), style="bold red")
    return Group(top, picture, bottom)


def ascii_digit_card(image: np.ndarray, label: int, predicted: int) -> list[str]:
    rows = ascii_picture(digit_levels(image)[::2, ::1])
    width = len(rows[0])
    return [f"true {label}".rjust(width)] + rows + [f"net {predicted}".rjust(width)]


def curve_text(
    values: list[float],
    width: int = 70,
    height: int = 15,
    reference: float | None = None,
    title: str = "validation accuracy (%)",
    label: str = "validation",
) -> str:
    """A plotext line plot as text (for `convlab show` and exports to the terminal)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    epochs = list(range(1, len(values) + 1))
    if values:
        plt.plot(epochs, values, label=label, marker="braille")
    if reference is not None and epochs:
        plt.plot([epochs[0], epochs[-1]], [reference, reference], label=f"book {reference:.2f}")
    plt.title(title)
    plt.xlabel("epoch")
    # plain text: plotext 5.3 has no colorless(), and even the "clear" theme emits ANSI resets
    return re.sub(r"\x1b\[[0-9;]*m", "", plt.build())
