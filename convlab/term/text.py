"""User text made safe to show: control and direction-changing characters
escaped, long text cut with an ellipsis. Names, titles and paths come from
files and stores anyone may have written; a terminal must show them, not obey them."""

from __future__ import annotations

import unicodedata

ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
HIDDEN = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")  # controls, formats (bidi overrides), surrogates, separators


def printable(text: str) -> str:
    """`text` with every character that could move the cursor, change direction
    or hide itself written as an escape (\\n, \\x1b, \\u202e)."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if unicodedata.category(c) in HIDDEN else c for c in text)


def _escape(c: str) -> str:
    code = ord(c)
    return ESCAPES.get(c) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    )


def clip(text: str, width: int) -> str:
    """At most `width` characters; a cut shows as a trailing ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def shown(text: str | None, width: int | None = None) -> str:
    """Printable, then clipped: how a name or title appears in a table."""
    text = printable(text or "")
    return clip(text, width) if width else text


# How much of a name or title a table cell shows before it is cut with an ellipsis:
PRINTED_CELL_WIDTH = 40  # in the tables the commands print (several columns share a terminal line)
LAB_CELL_WIDTH = 60  # in the lab's tables (they scroll sideways)
IN_LINE_WIDTH = 80  # a name or title inside a line of text: show's header, run's and sweep's messages, legends
NOTE_WIDTH = 1000  # a note in show's header: a paragraph, not a 100,000-character line

FILE_NAME_LIMIT = 100  # characters: far under every file system's 255 bytes, even in UTF-8


def safe_file_name(name: str) -> str:
    """`name` as one file name that stays inside its folder: no separators, no
    `.`/`..`, no controls, at most FILE_NAME_LIMIT characters."""
    cleaned = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name).strip(".")
    return cleaned[:FILE_NAME_LIMIT] or "_"
