"""Grey pictures as rows of half-block segments: ▀ with the upper pixel as
foreground and the lower as background, so a cell shows two pixels.

The same drawing as convlab.render.halfblock, built straight from segments
with one cached style per pair of greys: a gallery of sixty digits is drawn
in milliseconds, which keeps the live view responsive while it updates."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

Row = list[Segment]


@lru_cache(maxsize=65536)
def cell_style(top: int, bottom: int) -> Style:
    """Ink 255 → black, 0 → white (darker means larger, as in the book)."""
    return Style(color=Color.from_rgb(255 - top, 255 - top, 255 - top),
                 bgcolor=Color.from_rgb(255 - bottom, 255 - bottom, 255 - bottom))


def to_ink(levels: np.ndarray) -> np.ndarray:
    """Levels in [0, 1] as ink 0–255."""
    return np.clip(np.rint(np.asarray(levels, dtype=np.float64) * 255), 0, 255).astype(np.uint8)


def picture_rows(ink: np.ndarray) -> list[Row]:
    """An (h, w) uint8 ink image as ceil(h/2) rows of w segments."""
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
        from rich.measure import Measurement

        width = max((sum(len(s.text) for s in row) for row in self.rows), default=0)
        return Measurement(width, width)
