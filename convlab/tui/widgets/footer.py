"""Textual's Footer, rebuilt only when the keys it shows change, and fitted
to the terminal's width.

Textual's Footer recomposes (removes and mounts one widget per key, each
styled anew) whenever the screen's bindings *may* have changed: on every
focus change and every return to the screen. Measured with py-spy on the lab
while a run trained beside two busy loops (bench/lab_latency.py), those
rebuilds were about a third of the lab's main-thread time, with the same
keys each time; a key pressed during one waited for it.

Textual cuts a footer too wide for the terminal at the right, where Help and
Quit sit: here the keys listed last are hidden first, and Help and Quit stay."""

from __future__ import annotations

from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel

KEPT = frozenset({"app.help", "app.quit_lab"})  # shown at every width


def _kept(widget: Widget) -> bool:
    return isinstance(widget, FooterKey) and widget.action in KEPT


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

    async def recompose(self) -> None:
        await super().recompose()
        self.call_after_refresh(self.fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit)

    def fit(self) -> None:
        """Hide the keys listed last (a group with its label) until the rest fit; never Help or Quit."""
        units: list[list[Widget]] = []
        room = self.size.width
        for child in self.children:
            if child.has_class("-command-palette"):
                room -= _width(child)
            elif isinstance(child, FooterLabel) and units:
                units[-1].append(child)  # a group's label goes with its keys
            else:
                units.append([child])
        if room <= 0:
            return
        needed = sum(_width(w) for unit in units for w in unit)
        for unit in reversed(units):
            show = needed <= room or _kept(unit[0])
            if not show:
                needed -= sum(_width(w) for w in unit)
            for widget in unit:
                widget.display = show


def _width(widget: Widget) -> int:
    """Columns the widget takes, margins included; remembered while it is hidden."""
    if widget.display and widget.outer_size.width:
        widget._fit_width = widget.outer_size.width + widget.styles.margin.width
    return getattr(widget, "_fit_width", 0)
