"""Home: the chapter's presets (the selected one's architecture beside them),
what the lab is training or has queued, and the runs in the store."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from convlab.config.spec import Spec
from convlab.tui.plain import literal
from convlab.tui.widgets.architecture import PresetDetails
from convlab.tui.widgets.footer import KeyFooter
from convlab.tui.widgets.tables import PresetTable, RunTable

RUNS_SHOWN = 500  # the newest; re-read whenever the store changes, so kept bounded


def _runs_of(job, running: set[int]) -> str:
    """` (run 7)`, or ` (runs 7, 8)` while a job trains several side by side."""
    ids = [i for i in job.run_ids if i in running] or ([job.run_id] if job.run_id else [])
    return f" ({'runs' if len(ids) > 1 else 'run'} {', '.join(map(str, ids))})" if ids else ""


class JobLine(Static):
    """One line: what trains now (every run of the lab's that trains) and what waits for the device."""

    def show(self, app, runs: list | None = None) -> None:
        """`runs`: the store's runs as the table shows them, for which of a job's runs train now."""
        launcher = app.launcher
        parts = []
        training = launcher.training()  # one or several, as the launcher schedules them
        if training:
            running = {r.id for r in runs or () if r.status == "running"}
            parts.append(
                "training: " + ", ".join(f"{job.label}{_runs_of(job, running)} on {job.device}" for job in training)
            )
        if launcher.waiting:
            parts.append("waiting for the device: " + ", ".join(j.label for j in launcher.waiting))
        self.update(
            literal(" · ".join(parts), None)
            if parts
            else "Enter on a preset sets up a run · runs from any shell appear below"
        )
        self.set_class(bool(parts), "-busy")


class HomeScreen(Screen):
    BINDINGS = [
        Binding("e", "edit", "Edit", tooltip="Edit the selected preset's TOML, validated as you type"),
        Binding(
            "w", "watch", "Watch", show=False, tooltip="Watch the selected run live"
        ),  # shown as ⏎ Watch on the runs table
        Binding(
            "x",
            "cancel",
            "Cancel",
            tooltip="Cancel the selected run (interrupted, resumable) or take it out of the queue",
        ),
        Binding("r", "resume", "Resume", tooltip="Resume the selected interrupted run"),
        Binding("space", "mark", "Mark", key_display="␣", tooltip="Mark or unmark a run for the compare view"),
        Binding("c", "compare", "Compare", tooltip="Compare the marked runs (all when none is marked)"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit_lab", "Quit"),
    ]

    def __init__(self):
        super().__init__()
        self.specs: dict[str, Spec] = {}
        self.marked: set[int] = set()
        self._filled = False  # the runs table has been filled once

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="presets-row"):
            yield PresetTable(id="presets")
            yield PresetDetails(id="details")
        yield JobLine(id="jobs")
        yield RunTable(id="runs")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#presets").border_title = "Presets"
        self.query_one("#runs").border_title = "Runs"
        self.load_presets()
        self.refresh_runs()
        self.watch(self.app, "store_version", self.refresh_runs, init=False)
        self.watch(self.app, "jobs_version", self.refresh_runs, init=False)

    def on_screen_resume(self) -> None:
        # after the first frame, as the live view does: back at once, then caught up
        self.call_after_refresh(self._catch_up)

    def _catch_up(self) -> None:
        self.load_presets()
        self.refresh_runs()

    # ------------------------------------------------------------ content

    def load_presets(self) -> None:
        specs = self.app.presets()
        self.specs = {s.source or s.name: s for s in specs}
        table = self.query_one(PresetTable)
        table.show(specs)
        self.show_details()

    def refresh_runs(self, *_) -> None:
        if not self.is_current and self.is_mounted and self._filled:
            # under another screen: re-read when it comes back (on_screen_resume), not at each
            # change (an empty table counts as filled: the first run's live view must not pay for it)
            return
        launcher = self.app.launcher
        runs = self.app.store.runs(limit=RUNS_SHOWN)
        self.query_one(RunTable).show(runs, list(launcher.waiting), self.marked, self.app.store.swept_fields())
        self.query_one(JobLine).show(self.app, runs)
        self._filled = True

    def show_details(self) -> None:
        key = self.query_one(PresetTable).selected_key
        self.query_one(PresetDetails).show(self.specs.get(key) if key else None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "presets":
            self.show_details()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter on a row: a preset opens the run settings, a run its live view.
        event.stop()
        if event.data_table.id == "runs":
            self.action_watch()
        else:
            self.action_settings()

    # ------------------------------------------------------------ selection

    @property
    def selected_spec(self) -> Spec | None:
        key = self.query_one(PresetTable).selected_key
        return self.specs.get(key) if key else None

    @property
    def selected_run(self) -> int | None:
        return self.query_one(RunTable).selected_run

    @property
    def selected_job(self):
        key = self.query_one(RunTable).selected_key
        if key and key.startswith("job-"):
            number = int(key[4:])
            return next((j for j in self.app.launcher.jobs if j.number == number), None)
        return None

    # ------------------------------------------------------------ actions

    def action_settings(self) -> None:
        from convlab.tui.screens.settings import SettingsScreen

        spec = self.selected_spec
        if spec is not None:
            self.app.push_screen(SettingsScreen(spec))

    def action_edit(self) -> None:
        from convlab.tui.screens.editor import EditorScreen

        spec = self.selected_spec
        if spec is not None:
            self.app.push_screen(EditorScreen(Path(spec.source)))

    def action_watch(self) -> None:
        job = self.selected_job
        if job is not None:
            self.app.watch_job(job)
        elif self.selected_run is not None:
            self.app.watch_run(self.selected_run)

    def action_cancel(self) -> None:
        self.app.cancel_run(self.selected_run, self.selected_job)

    def action_resume(self) -> None:
        self.app.resume_run(self.selected_run)

    def action_mark(self) -> None:
        run_id = self.selected_run
        if run_id is None:
            return
        self.marked ^= {run_id}
        self.refresh_runs()

    def action_compare(self) -> None:
        self.app.compare(sorted(self.marked) or None)
