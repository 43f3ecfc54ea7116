"""A sweep in the lab: one row per point (the swept fields, then best of N by
validation and mean ± sd of test %), and each point's best validation curve
(a search's points are its trials). Redrawn whenever the store changes, so a
sweep training elsewhere fills in. The sweep form (SweepSetupScreen) starts one
from a preset, the search form (SearchSetupScreen) a search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Header, Input, Label, Static
from textual_plotext import PlotextPlot

from convlab.config.spec import Spec
from convlab.errors import UserError
from convlab.runs import sweep
from convlab.term.format import count, counted
from convlab.tui.launcher import Launch
from convlab.tui.plain import literal
from convlab.tui.widgets.footer import KeyFooter


class PointTable(DataTable):
    """The sweep's points; the footer names what Enter does on one."""

    BINDINGS = [Binding("enter", "select_cursor", "Watch", key_display="⏎")]


class SweepScreen(Screen):
    BINDINGS = [
        Binding("enter", "watch", "Watch", key_display="⏎", tooltip="The selected point's best run, live"),
        Binding("c", "compare", "Compare", tooltip="The compare view of the sweep's runs"),
        Binding("o", "export", "Export…", tooltip="Write the sweep's table as HTML, CSV, JSON or Markdown"),
        Binding("escape", "close", "Back"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit_lab", "Quit"),
    ]

    def __init__(self, sweep_id: int):
        super().__init__()
        self.sweep_id = sweep_id
        self.rows: list[sweep.PointRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sweep-title")
        yield PointTable(id="sweep-points", cursor_type="row", zebra_stripes=True)
        yield PlotextPlot(id="sweep-curves")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.refresh_sweep()
        self.watch(self.app, "store_version", self.refresh_sweep, init=False)

    def refresh_sweep(self, *_) -> None:
        from convlab.term.plots import draw_series

        record, rows = sweep.table(self.app.store, self.sweep_id)
        self.rows = rows
        grid = " × ".join(f"{field} ({len(values)})" for field, values in record["axes"])
        done = sum(row.status == "finished" for row in rows)
        progress = f"{done}/{len(rows)} points finished"
        if record.get("search"):  # a search (convlab search): its ranges, and its trials pruned
            from convlab.runs.search import describe

            pruned = sum(row.status.startswith("pruned") for row in rows)
            grid, progress = describe(record), f"{done} finished, {pruned} pruned of {record['search']['trials']}"
        kind = "search" if record.get("search") else "sweep"
        self.query_one("#sweep-title", Static).update(
            f"{kind} {record['id']} · {record['preset']} · {grid} · {progress}"
        )
        header, body = sweep.cells(rows)
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_columns(*header)
        table.add_rows([[literal(cell) for cell in line] for line in body])  # fields may hold user text
        table.move_cursor(row=cursor, animate=False)
        plot = self.query_one(PlotextPlot)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        draw_series(plot.plt, sweep.curve_series(self.app.store, rows), rows=(plot.size.height or 16) - 4)
        plot.refresh()

    # ------------------------------------------------------------ actions

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_watch()

    def action_watch(self) -> None:
        table = self.query_one(DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return
        point = self.rows[table.cursor_row]
        run = point.best or (point.runs[-1] if point.runs else None)
        if run is None:
            self.notify("This point has no run yet.", severity="warning")
        else:
            self.app.watch_run(run.id)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_compare(self) -> None:
        self.app.compare(sorted(r.id for row in self.rows for r in row.runs) or None)

    def action_export(self) -> None:
        from convlab.tui.screens.dialogs import ExportScreen

        self.app.push_screen(ExportScreen(f"convlab-sweep-{self.sweep_id}.html", self.export_to, "the sweep's table"))

    def export_to(self, path: Path, fmt: str) -> None:
        from convlab.results.export.sweeps import sweep_text
        from convlab.tui.screens.dialogs import write_export

        write_export(path, sweep_text(self.app.store, self.sweep_id, None, fmt))
        self.notify(f"Wrote sweep {self.sweep_id} as {fmt.upper()} to {path.resolve()}", title="Exported", timeout=10)


class SweepSetupScreen(ModalScreen):
    """A sweep of a preset: the fields to sweep (`train.lmbda=0,0.1 train.eta=0.03,0.1`,
    as `convlab sweep --set`), a shorter schedule, repeats and a seed; every point is
    checked as a preset file is, as you type. Launch queues `convlab sweep` as one job."""

    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch", tooltip="Queue it (Enter in a field too)"),
        Binding("escape", "cancel", "Cancel", tooltip="Close without launching"),
    ]
    VERB = "sweep"
    NUMBERS = ("epochs", "train_limit", "repeats", "seed")  # the inputs that take whole numbers

    def __init__(self, spec: Spec):
        super().__init__()
        self.spec = spec
        self.error: str | None = None

    def inputs(self) -> list[tuple[str, str, str, str, str]]:
        """(label, id, value, type, placeholder) of each input, the fields first."""
        t = self.spec.train
        return [
            ("fields", "axes", "", "text", "train.lmbda=0,0.1 train.eta=0.03,0.1"),
            ("epochs", "epochs", str(t.epochs), "integer", ""),
            ("train images", "train_limit", str(t.train_limit or ""), "integer", "all"),
            ("repeats", "repeats", "1", "integer", ""),
            ("seed", "seed", "", "integer", "random"),
        ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="sweep-setup"):
            title = f"{self.VERB.capitalize()} {self.spec.name} · {self.spec.title}"
            yield Label(literal(title, None), classes="dialog-title")
            with Grid(id="fields"):
                for label, name, value, kind, placeholder in self.inputs():
                    yield Label(label)
                    yield Input(value, type=kind, placeholder=placeholder, compact=True, id=name, select_on_focus=True)
            yield Static("", id="sweep-check")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Launch (ctrl+l)", variant="primary", id="launch", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.check()

    def on_input_changed(self) -> None:
        self.check()

    def on_input_submitted(self) -> None:
        self.action_launch()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"launch": self.action_launch, "cancel": self.action_cancel}[event.button.id]()

    def _text(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value.strip()

    def _number(self, name: str) -> int | None:
        text = self._text(name)
        return int(text) if text.lstrip("-").isdigit() else None

    def options(self) -> dict:
        """The schedule and launch options, as the command takes them (None: the preset's)."""
        epochs, limit = self._number("epochs"), self._number("train_limit")
        numbers = {name: self._number(name) for name in self.NUMBERS if name not in ("epochs", "train_limit")}
        return {
            "epochs": None if epochs == self.spec.train.epochs else epochs,
            "train_limit": None if limit in (None, self.spec.train.train_limit) else limit,
            **numbers,
        }

    def axes(self) -> list[str]:
        """The fields' entries: the first input, split at spaces (or ';')."""
        return self._text(self.inputs()[0][1]).replace(";", " ").split()

    def check(self) -> Any | None:
        """The plan, every part validated; None (and the reason shown) when a part is not."""
        panel = self.query_one("#sweep-check", Static)
        try:
            for name in self.NUMBERS:
                if self._text(name) and self._number(name) is None:
                    raise UserError(f"{name} is {self._text(name)!r}; it must be a whole number")
            plan = self.plan()
        except UserError as exc:
            self.error = str(exc)
            panel.update(literal(f"✗ {self.error}", None))
            panel.add_class("-error")
            return None
        self.error = None
        panel.remove_class("-error")
        panel.update(f"✓ will run: {self.summary(plan)}")
        return plan

    def plan(self) -> list:
        """Every point of the grid, as `convlab sweep` makes them."""
        from convlab.config.spec import schedule_changes

        if not self.axes():
            raise UserError("give the fields to sweep: train.lmbda=0,0.1 (several, separated by spaces)")
        options = self.options()
        changes = schedule_changes(epochs=options["epochs"], train_limit=options["train_limit"])
        definition = sweep.Sweep(
            self.spec.source or self.spec.name,
            tuple(sweep.parse_set(text) for text in self.axes()),
            options["repeats"],
            options["seed"],
        )
        return sweep.points(definition, changes)

    def summary(self, grid: list) -> str:
        first = grid[0][1].train
        runs = len(grid) * max(first.repeats, first.ensemble)
        return (
            f"{counted(len(grid), 'point')}, {counted(runs, 'run')} × "
            f"{counted(first.epochs, 'epoch')} × {count(grid[0][1].train_images)} images"
        )

    def action_launch(self) -> None:
        plan = self.check()
        if plan is None:
            self.notify(self.error or "", title="Cannot launch", severity="error")
            return
        job, what = self.launch(plan)
        self.dismiss()
        self.app.notify(
            f"{job.label}: {what} queued; their runs appear on the home screen, "
            f"and ctrl+p → {self.VERB.capitalize()} shows its table once it starts.",
            title=self.VERB.capitalize(),
        )

    def launch(self, grid: list) -> tuple[Launch, str]:
        job = self.app.launcher.sweep(
            self.spec.source or self.spec.name,
            self.axes(),
            len(grid),
            label=f"sweep {self.spec.name}",
            **self.options(),
        )
        return job, counted(len(grid), "point")

    def action_cancel(self) -> None:
        self.dismiss()


class SearchSetupScreen(SweepSetupScreen):
    """A search of a preset (`convlab search`): each field's range, the trials, the
    sampler and the pruner, a shorter schedule and a seed, checked as you type (every
    range at its ends, as a preset file is). Launch queues `convlab search` as one job,
    its trials asked as many at once as the lab's slots."""

    VERB = "search"
    NUMBERS = ("epochs", "train_limit", "trials", "seed")

    def inputs(self) -> list[tuple[str, str, str, str, str]]:
        from convlab.runs.search import PRUNERS, SAMPLERS, Search  # the command's defaults and choices

        t = self.spec.train
        return [
            ("ranges", "params", "", "text", "train.eta=log:0.003..0.3 train.lmbda=0..10"),
            ("trials", "trials", str(Search.trials), "integer", ""),
            ("sampler", "sampler", Search.sampler, "text", " or ".join(SAMPLERS)),
            ("pruner", "prune", Search.prune, "text", ", ".join(PRUNERS)),
            ("epochs", "epochs", str(t.epochs), "integer", ""),
            ("train images", "train_limit", str(t.train_limit or ""), "integer", "all"),
            ("seed", "seed", "", "integer", "random"),
        ]

    def options(self) -> dict:
        return {**super().options(), "sampler": self._text("sampler"), "prune": self._text("prune")}

    def plan(self) -> dict:
        """The search as `convlab search` stores it."""
        from convlab.config.spec import schedule_changes
        from convlab.extras import check_installed
        from convlab.runs import search

        check_installed("optuna", "search", "convlab search")  # found, not imported: the form stays quick
        if not self.axes():
            raise UserError(f"give each searched field's range: {search.EXAMPLE}")
        options = self.options()
        definition = search.Search(
            self.spec.source or self.spec.name,
            tuple(search.parse_param(text) for text in self.axes()),
            options["trials"] if options["trials"] is not None else search.Search.trials,
            options["sampler"],
            options["prune"],
            options["seed"],
        )
        changes = schedule_changes(epochs=options["epochs"], train_limit=options["train_limit"])
        return search.definition(definition, changes, self.app.launcher.workers)

    def summary(self, record: dict) -> str:
        from convlab.runs import search

        one = search.trial_spec(record, {})
        pruning = "no pruning" if record["prune"] == "none" else f"{record['prune']} pruning"
        return (
            f"{counted(record['trials'], 'trial')} × {counted(one.train.epochs, 'epoch')} × "
            f"{count(one.train_images)} images; {record['sampler']}, {pruning}"
        )

    def launch(self, record: dict) -> tuple[Launch, str]:
        options = {**self.options(), "trials": record["trials"]}
        job = self.app.launcher.search(
            self.spec.source or self.spec.name, self.axes(), label=f"search {self.spec.name}", **options
        )
        return job, counted(record["trials"], "trial")
