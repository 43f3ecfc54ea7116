"""The help screen: what to do first, then every key of every screen.

One Text, built once (not a Markdown widget or tables, which take tens to
hundreds of milliseconds to lay out): it opens at once."""

from __future__ import annotations

import textwrap
from functools import lru_cache

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from convlab.tui import keymap

KEY_WIDTH = 17
WRAP = 56  # fits 80 columns after the key column


@lru_cache(maxsize=1)
def help_text() -> Text:
    text = Text()
    text.append("convlab: the lab for chapter 6\n\n", style="bold")
    text.append(" ".join(keymap.INTRO.replace("**", "").replace("`", "").split()) + "\n")
    for title, keys in keymap.sections():
        text.append(f"\n{title}\n", style="bold")
        for key, what in keys:
            text.append(f"  {key:<{KEY_WIDTH}}", style="bold cyan")
            indent = "\n" + " " * (KEY_WIDTH + 2)
            text.append(indent.join(textwrap.wrap(what, WRAP)) + "\n")
    text.rstrip()
    return text


class HelpScreen(Screen):
    """A full screen, not a modal one: drawing the screen beneath, dimmed, would slow it down."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Static(help_text())

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "Help · Esc or ? closes"

    def on_screen_resume(self) -> None:
        # the app keeps one help screen (see ConvlabApp.action_help): each opening starts at the top
        self.query_one("#help").scroll_home(animate=False)

    def action_close(self) -> None:
        self.dismiss()
