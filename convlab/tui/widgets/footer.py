"""Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer recomposes (removes and mounts one widget per key, each
styled anew) whenever the screen's bindings *may* have changed: on every
focus change and every return to the screen. Measured with py-spy on the lab
while a run trained beside two busy loops (bench/lab_latency.py), those
rebuilds were about a third of the lab's main-thread time, with the same
keys each time; a key pressed during one waited for it."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    _shown: tuple | None = None  # the keys of the last rebuild

    def _keys(self, screen: Screen) -> tuple:
        return tuple(
            (b.key, b.action, b.description, b.group, enabled, tooltip)
            for _, b, enabled, tooltip in screen.active_bindings.values()
            if b.show
        )

    def bindings_changed(self, screen: Screen) -> None:
        if not (screen.app.app_focus and self.is_attached and screen is self.screen):
            super().bindings_changed(screen)  # Footer's own bookkeeping; it rebuilds nothing here
            return
        keys = self._keys(screen)
        if keys == self._shown:
            return
        self._shown = keys
        super().bindings_changed(screen)
