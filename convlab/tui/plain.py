"""User text in the lab, shown as written. Textual reads a str as markup in
many places (table cells, labels, border titles, the palette), where a preset
named "[/]" would raise a MarkupError and take the lab down; these helpers turn
names, titles, paths and errors into text that is only ever shown."""

from __future__ import annotations

from rich.text import Text

from convlab.term.text import LAB_CELL_WIDTH, shown


def literal(cell, width: int | None = LAB_CELL_WIDTH):
    """A table cell or label: a str becomes Text (never markup), control
    characters escaped, long text cut; anything else is kept as it is."""
    return Text(shown(cell, width), end="") if isinstance(cell, str) else cell


def as_markup(text: str | None, width: int | None = None) -> str:
    """User text placed inside a markup string (border titles, the palette).
    Every '[' is escaped: textual.markup.escape leaves an unclosed "[/" alone."""
    return shown(text, width).replace("[", "\\[")


def lines(text: str) -> str:
    """Several lines of user text (a notification): each line made printable."""
    return "\n".join(shown(line) for line in text.split("\n"))
