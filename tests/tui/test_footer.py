"""The footer (convlab/tui/widgets/footer.py) rebuilds its keys only when
they change: returning to a screen keeps the same key widgets, and a key
that becomes disabled is shown so at once."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from convlab.tui.widgets.footer import KeyFooter

from tui_helpers import run_async


class Keys(Screen):
    BINDINGS = [Binding("x", "cancel", "Cancel"), Binding("t", "toggle", "Toggle"), Binding("o", "other", "Other")]
    can_cancel = True

    def compose(self):
        yield Static("body")
        yield KeyFooter()

    def check_action(self, action: str, parameters) -> bool | None:
        return None if action == "cancel" and not self.can_cancel else True

    def action_toggle(self) -> None:
        self.can_cancel = not self.can_cancel
        self.refresh_bindings()

    def action_other(self) -> None:
        self.app.push_screen(Other())


class Other(Screen):
    BINDINGS = [Binding("o", "app.pop_screen", "Back")]

    def compose(self):
        yield Static("other")


class Lab(App):
    def on_mount(self) -> None:
        self.push_screen(Keys())


def _keys(screen: Screen) -> dict[str, FooterKey]:
    return {key.key: key for key in screen.query(FooterKey)}


@run_async
async def test_returning_to_a_screen_keeps_its_footer_keys():
    async with Lab().run_test() as pilot:
        await pilot.pause()
        screen = pilot.app.screen
        before = _keys(screen)
        assert {"x", "t", "o"} <= set(before)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(pilot.app.screen, Other)
        await pilot.press("o")
        await pilot.pause()
        assert pilot.app.screen is screen
        after = _keys(screen)
        assert all(after[k] is before[k] for k in before)  # the same widgets: nothing was rebuilt


@run_async
async def test_a_key_that_changes_is_shown_changed():
    async with Lab().run_test() as pilot:
        await pilot.pause()
        screen = pilot.app.screen
        assert not _keys(screen)["x"].has_class("-disabled")
        await pilot.press("t")
        await pilot.pause()
        assert _keys(screen)["x"].has_class("-disabled")
        await pilot.press("t")
        await pilot.pause()
        assert not _keys(screen)["x"].has_class("-disabled")
