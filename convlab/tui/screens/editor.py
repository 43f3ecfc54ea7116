"""The preset editor: the TOML text with syntax highlighting, validated as you
type by convlab.config.spec, the error and its field (and line) shown beside it.
Saving always asks for a name and never replaces one of the chapter's presets."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Header, Static, TextArea

from convlab.config.spec import Spec, parse_text
from convlab.errors import UserError
from convlab.term.text import shown
from convlab.tui import preset_text
from convlab.tui.plain import as_markup
from convlab.tui.widgets.architecture import hyper_parameters, layers_table
from convlab.tui.widgets.footer import KeyFooter


class CheckPanel(Static):
    """Beside the text: the error (field, line, problem), or the architecture it gives."""

    WIDE_ENOUGH = 40  # columns for the layers' names, shapes and parameters without cutting a name

    spec: Spec | None = None

    def on_resize(self) -> None:
        if self.spec is not None and not self.has_class("-error"):
            self.show_spec(self.spec)  # the shapes column when there is room for it

    def show_spec(self, spec: Spec) -> None:
        self.spec = spec
        self.remove_class("-error")
        self.border_title = "✓ valid"
        shapes = self.content_size.width >= self.WIDE_ENOUGH
        self.update(Group(Text(shown(spec.title), style="bold"), layers_table(spec, shapes), hyper_parameters(spec)))

    def show_error(self, field: str | None, line: int | None, problem: str) -> None:
        self.add_class("-error")
        self.border_title = "✗ error"
        where = Text()
        if field:
            where.append(shown(field), style="bold")
        if line is not None:
            where.append(f"{'  ' if field else ''}line {line + 1}", style="bold")
        hint = Text("ctrl+g puts the cursor there.", style="dim") if line is not None else Text("")
        self.update(Group(where, Text(shown(problem)), hint))


class EditorScreen(Screen):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save as…", tooltip="Save as a new preset (never over a shipped one)"),
        Binding("ctrl+g", "goto_error", "Go to error", tooltip="Put the cursor on the line of the error"),
        Binding("escape", "back", "Back"),
        Binding("f1", "app.help", "Help"),
    ]

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.saved_text = self.path.read_text(encoding="utf-8")
        self.original = _spec_or_none(self.saved_text, self.path.name)  # what a copy derives from
        self.own: Path | None = None  # a file this editor saved: saving under its name replaces it
        self.error: str | None = None
        self._leave_asked = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="editor-row"):
            yield TextArea.code_editor(
                self.saved_text, language=_toml_language(), soft_wrap=True, tab_behavior="focus", id="toml"
            )
            yield CheckPanel(id="check")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"editing {shown(self.path.name)}"
        self.query_one("#toml").border_title = as_markup(self.path.name)
        self.validate()

    @property
    def text(self) -> str:
        return self.query_one("#toml", TextArea).text

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._leave_asked = False
        self.validate()

    def validate(self) -> Spec | None:
        panel = self.query_one(CheckPanel)
        try:
            spec = parse_text(self.text, self.path.name)
        except UserError as exc:
            self.error = str(exc)
            field, problem = preset_text.split_error(self.error)
            panel.show_error(field, preset_text.error_line(self.text, self.error), problem)
            return None
        self.error = None
        panel.show_spec(spec)
        return spec

    # ------------------------------------------------------------ actions

    def action_goto_error(self) -> None:
        if self.error is None:
            return
        line = preset_text.error_line(self.text, self.error)
        if line is not None:
            area = self.query_one("#toml", TextArea)
            area.move_cursor((line, 0))
            area.focus()

    def action_save(self) -> None:
        from convlab.tui.screens.dialogs import SaveAsScreen

        if self.validate() is None:
            self.notify("Fix the error first: a preset is saved only when it is valid.", severity="error")
            return
        default = self.own.stem if self.own else f"{self.path.stem}-mine"
        self.app.push_screen(SaveAsScreen(default, self._save_as))

    def _save_as(self, name: str) -> None:
        """Called by the dialog; raises UserError (shown there) when the name cannot be used."""
        text = self.text
        if self.own is None and self.original is not None:  # a copy: no book figure it did not earn
            text = preset_text.derived(text, self.original)
        path = preset_text.save(text, name, own=self.own)
        self.own = self.path = path
        self.saved_text = path.read_text(encoding="utf-8")
        area = self.query_one("#toml", TextArea)
        if area.text != self.saved_text:
            area.load_text(self.saved_text)
        self.query_one("#toml").border_title = as_markup(path.name)
        self.sub_title = f"editing {shown(path.name)}"
        self.notify(f"Saved {path}", title="Preset saved")

    def action_back(self) -> None:
        if self.may_leave("Esc again leaves"):
            self.app.pop_screen()

    def may_leave(self, again: str = "ctrl+q again quits") -> bool:
        """Leaving (Esc) or quitting (ctrl+q, asked by the app) with unsaved edits
        asks first: the same key again discards them."""
        if self.text != self.saved_text and not self._leave_asked:
            self._leave_asked = True
            self.notify(f"Unsaved changes: ctrl+s saves them, {again} without saving.", severity="warning")
            return False
        return True


def _spec_or_none(text: str, name: str) -> Spec | None:
    try:
        return parse_text(text, name)
    except UserError:
        return None


def _toml_language() -> str | None:
    """TOML highlighting needs tree-sitter and tree-sitter-toml; without them the text is plain."""
    return "toml" if find_spec("tree_sitter") and find_spec("tree_sitter_toml") else None
