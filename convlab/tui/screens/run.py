"""The live view of one run: progress within the epoch, the validation curve
beside the book's figure and the preset's other runs, the first layer's
filters, the misclassified digits and the confusion matrix.

Everything comes from the store and is re-read when the app sees the store
change, so a run started in another shell is watched the same way. A screen
opened on one of the lab's jobs follows it from run to run (repeats)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Header

from convlab.store import Run
from convlab.term.text import shown
from convlab.tui.launcher import Launch
from convlab.tui.widgets.confusion import ConfusionMatrix, confusion
from convlab.tui.widgets.curve import CurvePlot, Series
from convlab.tui.widgets.footer import KeyFooter
from convlab.tui.widgets.pictures import FilterGrid, MistakeGallery
from convlab.tui.widgets.run_status import RunStatus

PANELS = ("curve", "filters", "mistakes", "confusion")
PANEL_KEYS = Binding.Group("Panels", compact=True)
OVERLAID = 3  # other runs of the preset drawn behind this one (more would hide it)


class RunScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("y", "toggle_range", "0–100", tooltip="Y axis: follow the data, or the full 0–100"),
        Binding(
            "t",
            "toggle_loss",
            "Loss",
            tooltip="Plot the training and validation loss instead of the validation accuracy",
        ),
        Binding("0", "panel('curve')", "Curve", group=PANEL_KEYS, tooltip="The curve (to enlarge it with z)"),
        Binding(
            "1",
            "panel('filters')",
            "Filters",
            group=PANEL_KEYS,
            tooltip="The first layer's filters (below 120 columns, one panel at a time)",
        ),
        Binding("2", "panel('mistakes')", "Mistakes", group=PANEL_KEYS, tooltip="The misclassified test digits"),
        Binding("3", "panel('confusion')", "Confusion", group=PANEL_KEYS, tooltip="The confusion matrix"),
        Binding(
            "left_square_bracket",
            "filters_epoch(-1)",
            "Earlier",
            key_display="[",
            show=False,
            tooltip="The filters after the epoch before",
        ),
        Binding(
            "right_square_bracket",
            "filters_epoch(1)",
            "Later",
            key_display="]",
            show=False,
            tooltip="The filters after the epoch after",
        ),
        Binding(
            "enter",
            "inspect",
            "Inspect",
            key_display="⏎",
            tooltip="Inside the network: the misclassified digits shown (or every test digit), layer by layer",
        ),
        Binding("z", "zoom", "Enlarge", tooltip="Enlarge the current panel to the whole body, or back"),
        Binding("x", "cancel", "Cancel", tooltip="Cancel this run: it becomes interrupted, resumable"),
        Binding("r", "resume", "Resume", tooltip="Resume this run if it was interrupted"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit_lab", "Quit"),
    ]

    panel: reactive[str] = reactive("filters")
    zoomed: reactive[bool] = reactive(False)

    def __init__(self, run_id: int | None = None, job: Launch | None = None):
        super().__init__()
        self.run_id = run_id if run_id is not None else (job.run_id if job else None)
        self.job = job
        self.current_run: Run | None = None
        self._drawn: tuple | None = None  # what the curve, filters and gallery show
        self.filters_epoch: int | None = None  # an earlier epoch's filters; None: the latest
        self.cell: tuple[int, int] | None = None  # the confusion matrix's cell the gallery shows
        self._overlaid: tuple | None = None  # (what it was read for, the other runs' curves)

    def compose(self) -> ComposeResult:
        yield Header()
        yield RunStatus(id="status")
        with Container(id="body"):
            yield CurvePlot(id="curve")
            with VerticalScroll(id="filters-panel", classes="panel"):
                yield FilterGrid(id="filters")
            with VerticalScroll(id="confusion-panel", classes="panel"):
                yield ConfusionMatrix(id="confusion")
            with VerticalScroll(id="mistakes-panel", classes="panel"):
                yield MistakeGallery(id="mistakes")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        for name, title in (("filters", "1 Filters"), ("mistakes", "2 Misclassified"), ("confusion", "3 Confusion")):
            self.query_one(f"#{name}-panel").border_title = title
        self.watch_panel(self.panel)
        self.refresh_from_store()
        self.watch(self.app, "store_version", self.refresh_from_store, init=False)
        self.watch(self.app, "jobs_version", self.refresh_from_store, init=False)

    def watch_panel(self, panel: str) -> None:
        for name in PANELS:
            self.panel_widget(name).set_class(name == panel, "-current")
        self.query_one("#body").set_class(panel == "curve", "-curve")

    def panel_widget(self, name: str):
        return self.query_one("#curve" if name == "curve" else f"#{name}-panel")

    def watch_zoomed(self, zoomed: bool) -> None:
        self.query_one("#body").set_class(zoomed, "-zoomed")

    # ------------------------------------------------------------ content

    def on_screen_resume(self) -> None:
        # after the first frame: the screen comes back at once as it was left
        # (help covered it for seconds), then catches up with the store
        self.call_after_refresh(self.refresh_from_store)

    def refresh_from_store(self, *_) -> None:
        if not self.is_current and self.current_run is not None:
            return  # under help or a dialog: caught up on resume
        store = self.app.store
        if self.job is not None and self.job.run_ids and self.job.run_ids[-1] != self.run_id:
            self.run_id = self.job.run_ids[-1]  # the job moved on to its next repeat
        status = self.query_one(RunStatus)
        if self.run_id is None:
            status.show(None, [], self.job, self.app.launcher.training())
            return
        self.current_run = run = store.run(self.run_id)
        epochs = store.epochs(run.id)
        status.show(run, epochs, self.job, here=self.app.hostname)
        self.sub_title = shown(f"{run.preset}: {run.title}", 120)
        drawn = (run.id, run.epochs_done, run.status)
        steps = len(run.progress.get("losses") or [])
        if (drawn, steps) != self._drawn:
            self._draw_curve(run, epochs)
        if drawn != (self._drawn or (None,))[0]:
            self._draw_pictures(run, epochs)
        self._drawn = (drawn, steps)

    def _others(self, run: Run) -> list[Series]:
        """Up to OVERLAID other runs of the preset, read again only when this run
        ends an epoch (not at each of its progress steps): a run training beside
        it shows its new epochs a little later, and the UI reads far less."""
        if self._overlaid is not None and self._overlaid[0] == (run.id, run.epochs_done, run.status):
            return self._overlaid[1]
        store = self.app.store
        others = []
        for other in store.runs(preset=run.preset):
            if other.id != run.id and other.kind == "train" and other.epochs_done:
                e = store.epochs(other.id)
                others.append(Series(f"run {other.id}", [x.epoch for x in e], [x.val_acc for x in e]))
            if len(others) == OVERLAID:
                break
        self._overlaid = ((run.id, run.epochs_done, run.status), others)
        return others

    def _draw_curve(self, run: Run, epochs) -> None:
        from convlab.results.curves import eta_points

        others = self._others(run)
        self.query_one(CurvePlot).set_data(
            Series(f"run {run.id}", [e.epoch for e in epochs], [e.val_acc for e in epochs]),
            Series("loss", [e.epoch for e in epochs], [e.train_loss for e in epochs]),
            others,
            run.book_figure,
            run.epochs_planned,
            steps=run.progress.get("losses") if run.status == "running" else None,
            val_loss=Series("validation", [e.epoch for e in epochs], [e.val_loss for e in epochs]),
            etas=eta_points(epochs),
        )

    def _draw_pictures(self, run: Run, epochs) -> None:
        store = self.app.store
        grid = self.query_one(FilterGrid)
        if run.kind == "train" and not any(layer.type == "conv_pool" for layer in run.spec.layers):
            grid.note = "This network has no convolutional layer, so it has no filters to show."
        elif run.kind == "ensemble":
            grid.note = "A vote has no filters of its own: open one of its runs."
        self._show_filters(run, epochs)
        predictions = store.predictions(run.id)
        if predictions is None:
            note = (
                "The misclassified test digits appear here when the run finishes."
                if run.status == "running"
                else f"The run is {run.status}; it has no test predictions yet."
            )
            self.query_one(MistakeGallery).show(None, note)
            self.query_one(ConfusionMatrix).show(None)
            return
        mistakes = store.mistakes(run.id)
        self.query_one(MistakeGallery).show(mistakes, cell=self.cell)
        self.query_one(ConfusionMatrix).show(confusion(predictions, mistakes))

    # ------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_range(self) -> None:
        curve = self.query_one(CurvePlot)
        curve.full_range = not curve.full_range

    def action_toggle_loss(self) -> None:
        curve = self.query_one(CurvePlot)
        curve.show_loss = not curve.show_loss

    def action_panel(self, name: str) -> None:
        self.panel = name
        (self.query_one(ConfusionMatrix) if name == "confusion" else self.panel_widget(name)).focus()

    def _show_filters(self, run: Run, epochs) -> None:
        latest = epochs[-1].epoch if epochs else None
        epoch = self.filters_epoch or latest
        filters = self.app.store.filters(run.id, epoch) if run.kind == "train" and epoch else None
        self.query_one(FilterGrid).show(filters, epoch, latest)

    def action_filters_epoch(self, step: int) -> None:
        run = self.current_run
        if run is None or not run.epochs_done:
            return
        epoch = min(run.epochs_done, max(1, (self.filters_epoch or run.epochs_done) + step))
        self.filters_epoch = None if epoch == run.epochs_done else epoch
        self._show_filters(run, self.app.store.epochs(run.id))
        if self.panel != "filters":
            self.panel = "filters"

    def on_confusion_matrix_cell_chosen(self, event: ConfusionMatrix.CellChosen) -> None:
        self.cell = None if event.label == event.predicted else (event.label, event.predicted)
        gallery = self.query_one(MistakeGallery)
        gallery.show(gallery.all, cell=self.cell)
        self.action_panel("mistakes")

    def action_inspect(self) -> None:
        from convlab.tui.screens.inspect import InspectScreen

        run = self.current_run
        if run is None or run.status != "finished":
            self.app.notify("Only a finished run can be inspected.", severity="warning")
            return
        shown = self.query_one(MistakeGallery).mistakes or []
        self.app.push_screen(InspectScreen(run.id, [m.index for m in shown] or None))

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed

    def action_cancel(self) -> None:
        self.app.cancel_run(self.run_id, self.job if self.job and self.job.active else None)

    def action_resume(self) -> None:
        if self.current_run is not None and self.current_run.status in ("interrupted", "failed"):
            self.job = self.app.launcher.resume(self.current_run.id)
            self.refresh_from_store()
        else:
            self.app.resume_run(self.run_id)
