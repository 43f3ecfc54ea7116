"""A sweep in the lab: one row per point (the swept fields, then best of N by
validation and mean ± sd of test %), and each point's best validation curve.
Redrawn whenever the store changes, so a sweep training elsewhere fills in.
The sweep form (SweepSetupScreen) starts one from a preset."""

from __future__ import annotations

from pathlib import Path

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
        Binding("ctrl+l", "launch", "Launch", tooltip="Queue the sweep (Enter in a field too)"),
        Binding("escape", "cancel", "Cancel", tooltip="Close without launching"),
    ]

    def __init__(self, spec: Spec):
        super().__init__()
        self.spec = spec
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        t = self.spec.train
        with Vertical(classes="dialog", id="sweep-setup"):
            yield Label(literal(f"Sweep {self.spec.name} · {self.spec.title}", None), classes="dialog-title")
            with Grid(id="fields"):
                yield from self._field("fields", "axes", "", "text", "train.lmbda=0,0.1 train.eta=0.03,0.1")
                yield from self._field("epochs", "epochs", str(t.epochs), "integer")
                yield from self._field("train images", "train_limit", str(t.train_limit or ""), "integer", "all")
                yield from self._field("repeats", "repeats", "1", "integer")
                yield from self._field("seed", "seed", "", "integer", "random")
            yield Static("", id="sweep-check")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Launch (ctrl+l)", variant="primary", id="launch", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield KeyFooter(compact=True)

    @staticmethod
    def _field(label: str, name: str, value: str, kind: str, placeholder: str = ""):
        yield Label(label)
        yield Input(value, type=kind, placeholder=placeholder, compact=True, id=name, select_on_focus=True)

    def on_mount(self) -> None:
        self.check()

    def on_input_changed(self) -> None:
        self.check()

    def on_input_submitted(self) -> None:
        self.action_launch()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"launch": self.action_launch, "cancel": self.action_cancel}[event.button.id]()

    def _number(self, name: str) -> int | None:
        text = self.query_one(f"#{name}", Input).value.strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def options(self) -> dict:
        """The schedule and launch options, as `convlab sweep` takes them (None: the preset's)."""
        epochs, limit = self._number("epochs"), self._number("train_limit")
        return {
            "epochs": None if epochs == self.spec.train.epochs else epochs,
            "train_limit": None if limit in (None, self.spec.train.train_limit) else limit,
            "repeats": self._number("repeats"),
            "seed": self._number("seed"),
        }

    def axes(self) -> list[str]:
        return self.query_one("#axes", Input).value.replace(";", " ").split()

    def check(self) -> list | None:
        """Every point of the grid, validated; None (and the reason shown) when one is not."""
        panel = self.query_one("#sweep-check", Static)
        try:
            grid = self._grid()
        except UserError as exc:
            self.error = str(exc)
            panel.update(literal(f"✗ {self.error}", None))
            panel.add_class("-error")
            return None
        self.error = None
        panel.remove_class("-error")
        first = grid[0][1].train
        runs = len(grid) * max(first.repeats, first.ensemble)
        panel.update(
            f"✓ will run: {counted(len(grid), 'point')}, {counted(runs, 'run')} × "
            f"{counted(first.epochs, 'epoch')} × {count(grid[0][1].train_images)} images"
        )
        return grid

    def _grid(self) -> list:
        from convlab.config.spec import schedule_changes

        if not self.axes():
            raise UserError("give the fields to sweep: train.lmbda=0,0.1 (several, separated by spaces)")
        options = self.options()
        for name in ("epochs", "train_limit", "repeats", "seed"):
            text = self.query_one(f"#{name}", Input).value.strip()
            if text and self._number(name) is None:
                raise UserError(f"{name} is {text!r}; it must be a whole number")
        changes = schedule_changes(epochs=options["epochs"], train_limit=options["train_limit"])
        definition = sweep.Sweep(
            self.spec.source or self.spec.name,
            tuple(sweep.parse_set(text) for text in self.axes()),
            options["repeats"],
            options["seed"],
        )
        return sweep.points(definition, changes)

    def action_launch(self) -> None:
        grid = self.check()
        if grid is None:
            self.notify(self.error or "", title="Cannot launch", severity="error")
            return
        job = self.app.launcher.sweep(
            self.spec.source or self.spec.name,
            self.axes(),
            len(grid),
            label=f"sweep {self.spec.name}",
            **self.options(),
        )
        self.dismiss()
        self.app.notify(
            f"{job.label}: {len(grid)} points queued; their runs appear on the home screen, "
            "and ctrl+p → Sweep shows its table once it starts.",
            title="Sweep",
        )

    def action_cancel(self) -> None:
        self.dismiss()
