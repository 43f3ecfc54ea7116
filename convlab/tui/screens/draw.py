"""Draw a digit and see a finished run (or a vote) classify it as it is drawn:
a 28×28 canvas in half-block cells, painted with the mouse (drag paints with a
soft brush, the right button erases) or the keyboard (arrows move the cursor,
space paints, backspace erases), with the probabilities and the layers' maps
updating. Each drawing is fitted and centred as MNIST's digits were, by the
lab's helper process (convlab/tui/inspector.py), which answers one request at
a time: strokes made meanwhile are sent together with the next one."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Static

from convlab.term.render import Lines, picture_rows, to_ink
from convlab.tui.inspector import helper, renderable
from convlab.tui.widgets.footer import KeyFooter

SIDE = 28
BRUSH = np.array([[0.0, 0.35, 0.0], [0.35, 1.0, 0.35], [0.0, 0.35, 0.0]])  # soft: the centre, half its neighbours
CURSOR = Style(color="red", bgcolor="red")


class Canvas(Widget, can_focus=True):
    """28×28 pixels of ink in [0, 1], two pixel rows a cell."""

    class Changed(Message):
        pass

    DEFAULT_CSS = "Canvas { width: 30; height: 16; border: round $accent; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ink = np.zeros((SIDE, SIDE))
        self.cursor = (14, 14)  # (x, y) in pixels
        self._button = 0

    def paint(self, x: int, y: int, erase: bool = False) -> None:
        """The brush centred on pixel (x, y) for the two pixel rows of a cell."""
        for row in (y - y % 2, y - y % 2 + 1):
            padded = np.zeros((SIDE + 2, SIDE + 2))
            padded[row : row + 3, x : x + 3] = BRUSH
            stroke = padded[1:-1, 1:-1]
            self.ink = np.clip(self.ink - stroke, 0, 1) if erase else np.maximum(self.ink, stroke)
        self.refresh()
        self.post_message(self.Changed())

    def clear(self) -> None:
        self.ink[:] = 0
        self.refresh()
        self.post_message(self.Changed())

    def render(self):
        rows = picture_rows(to_ink(self.ink))
        x, y = self.cursor
        if self.has_focus:
            rows[y // 2][x] = Segment("▀" if y % 2 == 0 else "▄", CURSOR)
        return Lines(rows)

    def _cell(self, event: events.MouseEvent) -> tuple[int, int] | None:
        x, y = event.x, event.y
        if 0 <= x < SIDE and 0 <= y < SIDE // 2:
            return x, y * 2
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._button = event.button
        self.capture_mouse()
        cell = self._cell(event)
        if cell:
            self.cursor = cell
            self.paint(*cell, erase=event.button == 3)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        button = self._button or event.button  # the button pressed on the canvas, through the drag
        cell = self._cell(event)
        if button and cell:
            self.paint(*cell, erase=button == 3)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._button = 0
        self.release_mouse()

    def move(self, dx: int, dy: int) -> None:
        x, y = self.cursor
        self.cursor = (min(max(x + dx, 0), SIDE - 1), min(max(y + dy, 0), SIDE - 1))
        self.refresh()


class DrawScreen(Screen):
    DEFAULT_CSS = """
    #draw-top { height: auto; }
    #draw-verdict { width: 1fr; height: auto; padding-left: 1; }
    #draw-layers { height: 1fr; display: none; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("up", "move(0,-1)", "Up", show=False),
        Binding("down", "move(0,1)", "Down", show=False),
        Binding("left", "move(-1,0)", "Left", show=False),
        Binding("right", "move(1,0)", "Right", show=False),
        Binding("space", "paint", "Paint", tooltip="Paint at the cursor (or drag with the mouse)"),
        Binding("backspace", "erase", "Erase", tooltip="Erase at the cursor (or right-drag with the mouse)"),
        Binding("c", "clear", "Clear", tooltip="An empty canvas"),
        Binding("left_square_bracket", "other_run(-1)", "Newer run", key_display="["),
        Binding("right_square_bracket", "other_run(1)", "Older run", key_display="]"),
        Binding("l", "layers", "Layers", tooltip="Show the layers' maps, or the probabilities"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    show_layers: reactive[bool] = reactive(False)

    def __init__(self, run_id: int | None = None):
        super().__init__()
        self.run_id = run_id
        self.answer: dict | None = None
        self._asking = False
        self._dirty = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="draw-top"):
            yield Canvas(id="canvas")
            yield Static(id="draw-verdict")
        with VerticalScroll(id="draw-layers"):
            yield Static(id="draw-view")
        yield KeyFooter(compact=True)

    def finished_runs(self) -> list[int]:
        return [r.id for r in self.app.store.runs(status="finished")]

    def on_mount(self) -> None:
        runs = self.finished_runs()
        if self.run_id is None and runs:
            self.run_id = runs[0]
        self.sub_title = f"draw a digit for run {self.run_id}" if self.run_id else "draw a digit"
        self.query_one(Canvas).focus()
        self.query_one("#draw-verdict", Static).update(
            Text(
                "Draw a digit: drag with the mouse (right button erases), or arrows and space."
                if self.run_id
                else "No finished run yet: train one first, then draw a digit for it."
            )
        )

    def on_canvas_changed(self, _: Canvas.Changed) -> None:
        self.classify()

    def classify(self) -> None:
        """Ask for the canvas now, or, while a request is out, once it is answered."""
        if self.run_id is None:
            return
        if self._asking:
            self._dirty = True
            return
        self._asking, self._dirty = True, False
        request = {"run": self.run_id, "pixels": np.round(self.query_one(Canvas).ink, 3).tolist()}
        self.run_worker(
            lambda: self.app.call_from_thread(self.show, helper(self.app).ask(request)),
            thread=True,
            group="draw",
        )

    def show(self, answer: dict) -> None:
        self._asking = False
        self.answer = answer
        self.draw()
        if self._dirty:
            self.classify()

    def draw(self) -> None:
        verdict = self.query_one("#draw-verdict", Static)
        view = self.query_one("#draw-view", Static)
        if self.answer is None:
            return
        if "error" in self.answer:
            verdict.update(Text(self.answer["error"]))
            return
        width = max(30, self.size.width - 32)
        verdict.update(renderable(self.answer, width, "verdict"))
        view.update(renderable(self.answer, self.size.width, "layers") if self.show_layers else "")
        self.query_one("#draw-layers").display = self.show_layers

    def watch_show_layers(self, _: bool) -> None:
        if self.is_mounted:
            self.draw()

    # ------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_move(self, dx: int, dy: int) -> None:
        self.query_one(Canvas).move(dx, dy)

    def action_paint(self) -> None:
        canvas = self.query_one(Canvas)
        canvas.paint(*canvas.cursor)

    def action_erase(self) -> None:
        canvas = self.query_one(Canvas)
        canvas.paint(*canvas.cursor, erase=True)

    def action_clear(self) -> None:
        self.query_one(Canvas).clear()

    def action_layers(self) -> None:
        self.show_layers = not self.show_layers

    def action_other_run(self, step: int) -> None:
        runs = self.finished_runs()
        if not runs:
            return
        i = runs.index(self.run_id) if self.run_id in runs else 0
        self.run_id = runs[min(max(i + step, 0), len(runs) - 1)]
        self.sub_title = f"draw a digit for run {self.run_id}"
        self.classify()
