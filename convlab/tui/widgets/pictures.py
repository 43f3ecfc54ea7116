"""The first conv layer's filters and the misclassified test digits, drawn in
half-block cells of grey (two pixels a cell, darker = larger, as in the book),
which read well over plain SSH. Both lay themselves out for the width they get."""

from __future__ import annotations

import math

import numpy as np
from rich.console import Group
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from convlab.store import Mistake
from convlab.term import render
from convlab.term.render import Lines, Row, picture_rows, to_ink

CARD = 28  # a digit is 28 cells wide and 14 high
CARD_GAP = 2
MAX_SCALE = 2
DIM = Style(dim=True)
TRUE = Style(color="green", bold=True)
NET = Style(color="red", bold=True)


def layout(maps: int, side: int, width: int) -> tuple[int, int]:
    """The largest scale at which the filters fit the width in few rows,
    and a column count that fills those rows evenly."""
    for scale in range(MAX_SCALE, 1, -1):
        if (width + 1) // (side * scale + 1) >= min(maps, 10):
            break
    else:
        scale = 1
    per_row = max(1, min(maps, (width + 1) // (side * scale + 1)))
    rows = math.ceil(maps / per_row)
    return scale, math.ceil(maps / rows)


class FilterGrid(Widget):
    """The filters after the latest epoch, scaled up as far as the width allows."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.filters: np.ndarray | None = None
        self.epoch: int | None = None
        self.of: int | None = None
        self.note = "The first layer's filters appear here after the first epoch."
        self._rendered: tuple | None = None  # (width, renderable)

    def show(self, filters: np.ndarray | None, epoch: int | None, of: int | None = None) -> None:
        self.filters, self.epoch = filters, epoch
        self.of = of  # the run's latest epoch, when an earlier one is shown
        self._rendered = None
        self.refresh(layout=True)

    def render(self):
        if self.filters is None:
            return Text(self.note, style="dim")
        # kept until the filters or the width change: Textual renders again on
        # every recomposition (help closing, a panel switching)
        key = max(self.size.width, 20)
        if self._rendered is None or self._rendered[0] != key:
            self._rendered = (key, self._render_filters())
        return self._rendered[1]

    def _render_filters(self):
        maps, side = self.filters.shape[0], self.filters.shape[-1]
        scale, columns = layout(maps, side, max(self.size.width, 20))
        levels = render.tile(list(render.filter_levels(self.filters.reshape(maps, side, side))), columns)
        levels = levels.repeat(scale, axis=0).repeat(scale, axis=1)
        which = f"epoch {self.epoch}" + (f" of {self.of}" if self.of and self.of != self.epoch else "")
        caption = Text(
            f"{maps} filters of {side}×{side} after {which} · darker = larger weight"
            + (" · [ ] other epochs" if self.of and self.of > 1 else ""),
            style="dim",
        )
        return Group(Lines(picture_rows(to_ink(levels))), caption)


def digit_card(m: Mistake) -> list[Row]:
    """Index, true label and the network's label above the picture: a panel
    too short for the whole picture (80×24) still shows both labels."""
    index, true, net = f"#{m.index}", f"true {m.label}", f"  net {m.predicted}"
    pad = " " * (CARD - len(index) - len(true) - len(net))
    top = [Segment(index + pad, DIM), Segment(true, TRUE), Segment(net, NET)]
    return [top, *picture_rows(np.asarray(m.image, dtype=np.uint8))]


class MistakeGallery(Widget):
    """Misclassified test digits, as many per row as fit."""

    def __init__(self, limit: int = 60, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit
        self.mistakes: list[Mistake] | None = None
        self.note = "The misclassified test digits appear here when the run finishes."
        self.all: list[Mistake] | None = None
        self.cell: tuple[int, int] | None = None
        self._cards: list[list[Row]] | None = None

    def show(
        self, mistakes: list[Mistake] | None, note: str | None = None, cell: tuple[int, int] | None = None
    ) -> None:
        """`cell` (true, predicted): only those digits, as chosen in the confusion matrix."""
        self.all = mistakes
        self.cell = cell
        self.mistakes = (
            mistakes if cell is None or mistakes is None else [m for m in mistakes if (m.label, m.predicted) == cell]
        )
        self._cards = None
        if note:
            self.note = note
        self.refresh(layout=True)

    @property
    def shown(self) -> int:
        return min(len(self.mistakes or []), self.limit)

    def render(self):
        if not self.mistakes:
            if self.cell is not None:
                return Text(f"No {self.cell[0]} was taken for a {self.cell[1]}.", style="dim")
            return Text(self.note if self.mistakes is None else "No test digit is misclassified.", style="dim")
        per_row = max(1, (max(self.size.width, CARD) + CARD_GAP) // (CARD + CARD_GAP))
        if self._cards is None:
            self._cards = [digit_card(m) for m in self.mistakes[: self.limit]]
        cards = self._cards
        total = len(self.mistakes)
        head = f"{total:,} test digits misclassified" + (f", the first {len(cards)}" if len(cards) < total else "")
        if self.cell is not None:
            head = (
                f"{total:,} of {len(self.all):,} misclassified: true {self.cell[0]}, the network's "
                f"{self.cell[1]} (⏎ on the matrix's diagonal: all)"
            )
        rows: list[Row] = [[Segment(head, DIM)]]  # each card says which label is which
        gap = Segment(" " * CARD_GAP)
        for start in range(0, len(cards), per_row):
            for parts in zip(*cards[start : start + per_row]):
                line: Row = []
                for i, part in enumerate(parts):
                    line += ([gap] if i else []) + part
                rows.append(line)
            rows.append([])
        return Lines(rows)
