"""Keys in order: each key press is handled to the end before the next one
is dispatched, so it lands in the field that had focus when it was pressed.

Textual routes a key to the widget focused when the *app* takes it from its
queue, but Tab moves the focus only when the key has bubbled back up to the
app's bindings. Keys queued behind a Tab (typed fast, or while the app was
busy) therefore went to the old field: `2 Tab×6 1 Tab 3000` gave 213000
epochs. Here a key is followed up the widget tree (a marker message behind it
in each queue) until a widget stops it or the app's bindings have run; keys
that arrive meanwhile wait their turn."""

from __future__ import annotations

from collections import deque

from textual import events

SETTLE_TRIES = 20  # refreshes to wait for a key's effects before the next key goes anyway
KEY_TIMEOUT = 1.0  # seconds: a key never followed to its end releases the next anyway


class OrderedKeys:
    """A mixin for the App (before App in the bases)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._key_in_flight: events.Key | None = None
        self._keys_held: deque[events.Key] = deque()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self._key_in_flight is not None or self._keys_held:
                self._keys_held.append(event)
            else:
                await self._take_key(event)
            return
        await super().on_event(event)

    def _on_key(self, event: events.Key) -> None:
        # Textual calls each class's _on_key in turn: App's runs the bindings
        # next, before the held key is released (after the refresh).
        self._key_done(event)

    async def _take_key(self, event: events.Key) -> None:
        self._key_in_flight = event
        target = self.focused or self.screen
        self.set_timer(KEY_TIMEOUT, lambda: self._key_done(event))
        await super().on_event(event)  # a priority binding, or forwarded to `target`
        if not event.is_forwarded:
            self._key_done(event)
        elif not target.call_later(self._followed, event, target):
            self._key_done(event)

    def _followed(self, event: events.Key, node) -> None:
        """`node` has handled the key: it stopped there, or went on to the parent's queue."""
        parent = node.parent
        if event._stop_propagation or parent is None or not node.is_attached:
            self._key_done(event)
        elif parent is not self and not parent.call_later(self._followed, event, parent):
            self._key_done(event)
        # else it reaches the app's _on_key, which ends it

    def _key_done(self, event: events.Key) -> None:
        if event is not self._key_in_flight:
            return
        self._key_in_flight = None
        if self._keys_held:
            # after the refresh: a screen the key opened is mounted before the next key
            self.call_after_refresh(self._next_held)

    async def _next_held(self, waited: int = 0) -> None:
        if self._key_in_flight is not None or not self._keys_held:
            return
        if not self._settled() and waited < SETTLE_TRIES:
            # the key's effects are still on their way (a screen it opened mounts, takes the focus)
            self.call_after_refresh(self._next_held, waited + 1)
            return
        await self._take_key(self._keys_held.popleft())

    def _settled(self) -> bool:
        """No message waits in the queues of the screen, the focused widget and its ancestors."""
        node = self.focused or self.screen
        while node is not None and node is not self:
            if node._message_queue.qsize():
                return False
            node = node.parent
        return not self.screen._message_queue.qsize()
