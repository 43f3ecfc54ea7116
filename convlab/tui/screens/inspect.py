"""The inspector: one test digit through a finished run (or a vote's members),
layer by layer, as `convlab inspect` shows it: the digit and its saliency with
the probabilities, or the layers' maps (one panel at a time, so it reads at
80×24). The arrows move through the digits it was opened on (a run's
misclassified digits, or one cell's of the confusion matrix); `a` moves
through every test digit instead. The numbers come from the lab's helper
process (convlab/tui/inspector.py): the lab never imports torch."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Header, Static

from convlab.tui.inspector import helper, renderable
from convlab.tui.widgets.footer import KeyFooter

TEST_SIZE = 10_000


class InspectScreen(Screen):
    DEFAULT_CSS = """
    #inspect-where { height: 1; }
    #inspect-body { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("left", "step(-1)", "Previous", key_display="←", tooltip="The digit before"),
        Binding("right", "step(1)", "Next", key_display="→", tooltip="The digit after"),
        Binding("1", "panel('digit')", "Digit", tooltip="The digit, its saliency and the probabilities"),
        Binding("2", "panel('layers')", "Layers", tooltip="Every layer's maps and activations"),
        Binding("a", "all_digits", "All digits", tooltip="Move through every test digit, from this one"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    panel: reactive[str] = reactive("digit")

    def __init__(self, run_id: int, digits: list[int] | None = None, position: int = 0):
        super().__init__()
        self.run_id = run_id
        self.digits = digits or list(range(TEST_SIZE))
        self.position = min(max(position, 0), len(self.digits) - 1)
        self.answer: dict | None = None

    @property
    def digit(self) -> int:
        return self.digits[self.position]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="inspect-where")
        with VerticalScroll(id="inspect-body"):
            yield Static("Reading the network…", id="inspect-view")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"inside run {self.run_id}"
        self.ask()

    def ask(self) -> None:
        self.query_one("#inspect-where", Static).update(
            Text(
                f"run {self.run_id} · test digit #{self.digit} ({self.position + 1} of {len(self.digits)}) · ← → · "
                "1 digit · 2 layers"
            )
        )
        run_id, digit = self.run_id, self.digit
        self.run_worker(
            lambda: self.app.call_from_thread(self.show, helper(self.app).ask({"run": run_id, "digit": digit})),
            thread=True,
            exclusive=True,
            group="inspect",
        )

    def show(self, answer: dict) -> None:
        if answer.get("source", {}).get("digit") not in (None, self.digit):
            return  # an answer for a digit already left
        self.answer = answer
        self.draw()

    def draw(self) -> None:
        view = self.query_one("#inspect-view", Static)
        if self.answer is None:
            return
        if "error" in self.answer:
            view.update(Text(self.answer["error"]))
            return
        view.update(renderable(self.answer, self.size.width, self.panel))

    def watch_panel(self, _: str) -> None:
        if self.is_mounted:
            self.draw()

    def on_resize(self) -> None:
        self.draw()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_step(self, step: int) -> None:
        position = min(max(self.position + step, 0), len(self.digits) - 1)
        if position != self.position:
            self.position = position
            self.ask()

    def action_panel(self, name: str) -> None:
        self.panel = name

    def action_all_digits(self) -> None:
        digit = self.digit
        self.digits, self.position = list(range(TEST_SIZE)), digit
        self.ask()
