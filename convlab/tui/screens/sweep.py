"""A sweep in the lab: one row per point (the swept fields, then best of N by
validation and mean ± sd of test %), and each point's best validation curve.
Redrawn whenever the store changes, so a sweep training elsewhere fills in."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual_plotext import PlotextPlot

from convlab.runs import sweep
from convlab.tui.widgets.footer import KeyFooter


class SweepScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, sweep_id: int):
        super().__init__()
        self.sweep_id = sweep_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sweep-title")
        yield DataTable(id="sweep-points", cursor_type="row", zebra_stripes=True)
        yield PlotextPlot(id="sweep-curves")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.refresh_sweep()
        self.watch(self.app, "store_version", self.refresh_sweep, init=False)

    def refresh_sweep(self, *_) -> None:
        from convlab.term.plots import draw_series

        record, rows = sweep.table(self.app.store, self.sweep_id)
        grid = " × ".join(f"{field} ({len(values)})" for field, values in record["axes"])
        done = sum(row.status == "finished" for row in rows)
        self.query_one("#sweep-title", Static).update(
            f"sweep {record['id']} · {record['preset']} · {grid} · {done}/{len(rows)} points finished"
        )
        header, body = sweep.cells(rows)
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns(*header)
        table.add_rows(body)
        plot = self.query_one(PlotextPlot)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        draw_series(plot.plt, sweep.curve_series(self.app.store, rows), rows=(plot.size.height or 16) - 4)
        plot.refresh()
