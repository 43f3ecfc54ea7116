"""Small modal dialogs: a name to save a preset under, a file to export to,
and quitting while runs train or wait."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from convlab.config.paths import presets_dir
from convlab.errors import UserError
from convlab.tui.plain import lines as plain_lines
from convlab.tui.plain import literal
from convlab.tui.widgets.footer import KeyFooter


class SaveAsScreen(ModalScreen[str | None]):
    """Asks for a name (a preset's, or a file's); `save(name)` writes it or raises UserError, shown here."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        default: str,
        save: Callable[[str], None],
        title: str | None = None,
        placeholder: str = "name (letters, digits, - and _)",
    ):
        super().__init__()
        self.default = default
        self.save = save
        self.title_text = title or f"Save as a new preset in {presets_dir()}/"
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(literal(self.title_text, None), classes="dialog-title")
            yield Input(self.default, placeholder=self.placeholder, id="name")
            yield Static("", id="save-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield KeyFooter(compact=True)  # this dialog's keys, over the screen's below

    def on_input_submitted(self) -> None:
        self._save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def _save(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        try:
            self.save(name)
        except UserError as exc:
            self.query_one("#save-error", Static).update(literal(str(exc), None))
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)


EXPORT_SUFFIXES = {".html": "html", ".htm": "html", ".csv": "csv", ".json": "json", ".md": "md"}


class ExportScreen(SaveAsScreen):
    """A file to export to, its suffix choosing the format (the dialog has no format field);
    a file that exists is replaced only when Save is pressed again for the same name."""

    def __init__(self, default: str, write: Callable[[Path, str], None], what: str):
        super().__init__(
            default,
            self._export,
            title=f"Export {what}: the file's suffix (.html .csv .json .md) chooses the format",
            placeholder=f"a file: {default}, runs.csv, …",
        )
        self.write = write  # write(path, format)
        self.replacing: str | None = None  # the name the user was told exists

    def _export(self, name: str) -> None:
        if not name:
            raise UserError(f"give a file name, for example {self.default}")
        fmt = EXPORT_SUFFIXES.get(Path(name).suffix.lower())
        if fmt is None:
            raise UserError(f"{name}: end the name with .html, .csv, .json or .md; the suffix chooses the format")
        path = Path(name).expanduser()
        if path.is_dir():
            raise UserError(f"{name} is a folder; give a file name inside it")
        if path.exists() and self.replacing != name:
            self.replacing = name
            raise UserError(f"{name} exists; press Save again to replace it, or give another name")
        self.write(path, fmt)


def write_export(path: Path, text: str) -> None:
    """An export's text to its file; a path that cannot be written is one line in the dialog."""
    try:
        path.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; choose another file") from None


class QuitScreen(ModalScreen[bool]):
    """Quitting leaves a training run going (it is in the store); waiting ones are cancelled."""

    BINDINGS = [Binding("escape", "stay", "Stay"), Binding("y", "quit", "Quit"), Binding("n", "stay", "Stay")]

    def __init__(self, training: list, waiting: list):
        super().__init__()
        self.training, self.waiting = training, waiting

    def compose(self) -> ComposeResult:
        lines = []
        if self.training:
            lines.append(
                ", ".join(j.label for j in self.training) + " keeps training after you quit; "
                "`convlab` shows it again, and x there stops it."
            )
        if self.waiting:
            lines.append(
                ", ".join(j.label for j in self.waiting) + " waits for the device and is cancelled: it will not start, "
                "and the next `convlab` does not keep it (launch it again there)."
            )
        with Vertical(classes="dialog"):
            yield Label("Quit the lab?", classes="dialog-title")
            yield Static(Text(plain_lines("\n".join(lines))))
            with Horizontal(classes="dialog-buttons"):
                yield Button("Quit (y)", variant="error", id="quit", compact=True)
                yield Button("Stay (n)", id="stay", compact=True)
        yield KeyFooter(compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit")

    def action_quit(self) -> None:
        self.dismiss(True)

    def action_stay(self) -> None:
        self.dismiss(False)
