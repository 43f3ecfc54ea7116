"""The compare view: the comparison table (sortable by any column), the
validation curves of the marked rows overlaid, the differences of two marked
rows' configs, and an ensemble vote of the marked finished runs.

Rows come from `convlab.report` (the same as `convlab compare`): a run, a
group of repeats (best of N) or an ensemble vote. Space marks a row; a click
on a header, or `s`, sorts; `r` reverses; `e` votes with the marked rows'
runs and stores the vote as a run, which then appears as a row of its own.
The store is polled, so runs that finish elsewhere update the table.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import PlotextPlot

from convlab import report
from convlab.errors import UserError
from convlab.store import Store
from convlab.tui.plain import lines, literal

POLL_EVERY = 1.0  # seconds between looks at the store's data_version
MAX_CURVES = 10  # with nothing marked, the first rows' curves


class CompareScreen(Screen):
    DEFAULT_CSS = """
    CompareScreen #compare-info { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    CompareScreen #compare-table { height: auto; max-height: 50%; min-height: 6; }
    CompareScreen #compare-bottom { height: 1fr; min-height: 10; }
    CompareScreen #compare-curves { width: 2fr; }
    CompareScreen #compare-diff { width: 1fr; min-width: 30; padding: 0 1; background: $boost; overflow-y: auto; }
    """
    BINDINGS = [
        Binding("space", "mark", "Mark", key_display="␣"),
        Binding("s", "sort_next", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("e", "ensemble", "Ensemble"),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self, store_path: str, run_ids: list[int] | None = None):
        super().__init__()
        self.store_path, self.run_ids = store_path, list(run_ids) if run_ids else None
        self.store: Store | None = None
        self.rows: list[report.Row] = []
        self.marked: set[str] = set()  # row keys
        self.sort_key, self.reverse = "row", False
        self._seen_version: int | None = None
        self._shown: list[tuple] | None = None  # the table's cells as last drawn

    def compose(self) -> ComposeResult:
        yield Static(id="compare-info")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="compare-bottom"):
            yield PlotextPlot(id="compare-curves")
            yield Static(id="compare-diff")
        yield Footer()

    def on_mount(self) -> None:
        self.store = Store(self.store_path)
        self.reload()
        self.query_one(DataTable).focus()
        self.set_interval(POLL_EVERY, self.poll)

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

    # ------------------------------------------------------------ content

    def poll(self) -> None:
        if self.store.version() != self._seen_version:
            self.reload()

    def reload(self) -> None:
        """Read the rows again (the selection may have grown: a new vote)."""
        self._seen_version = self.store.version()
        try:
            self.rows = report.compare(self.store, self.run_ids, sort=self.sort_key, reverse=self.reverse)
        except UserError as exc:  # a run deleted under us, say
            self.notify(str(exc), severity="error")
            self.rows = []
        self.marked &= {r.key for r in self.rows}
        shown = [(r.key, *report.cells(r)) for r in self.rows]
        if shown != self._shown:  # a training run elsewhere changes the store often, a row seldom
            self._shown = shown
            self.fill_table()
            self.show_marked()

    def fill_table(self) -> None:
        table = self.query_one(DataTable)
        current = self.current_row
        table.clear(columns=True)
        table.add_column(" ", key="mark")
        for column in report.COLUMNS:
            arrow = (" ▼" if self.reverse else " ▲") if column.key == self.sort_key else ""
            table.add_column(column.header + arrow, key=column.key)
        for row in self.rows:
            table.add_row("●" if row.key in self.marked else " ", *map(literal, report.cells(row)), key=row.key)
        if current is not None and current.key in {r.key for r in self.rows}:
            table.move_cursor(row=table.get_row_index(current.key))
        column = report.BY_KEY[self.sort_key].header
        self.query_one("#compare-info", Static).update(
            f"{len(self.rows)} rows · sorted by {column}{' (descending)' if self.reverse else ''} · "
            "space marks a row · two marked: their differences · e: ensemble of the marked runs")

    def show_marked(self) -> None:
        marked = self.marked_rows
        self.draw_curves(marked or self.rows[:MAX_CURVES])
        diff = self.query_one("#compare-diff", Static)
        if len(marked) == 2:
            diff.update(Text(lines("\n".join(["Differences", ""] + report.diff_lines(*marked)))))
        else:
            diff.update(f"{len(marked)} marked. Mark two rows (space) to see how their configs differ; "
                        "mark finished runs and press e for their ensemble vote.")

    def draw_curves(self, rows: list[report.Row]) -> None:
        from convlab.cli_report import draw_series
        from convlab.export import curve_series

        plot = self.query_one(PlotextPlot)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        draw_series(plot.plt, curve_series(self.store, rows))
        if not self.marked:
            plot.plt.title("validation accuracy (%) · all rows")
        plot.refresh()

    # ------------------------------------------------------------ selection

    @property
    def current_row(self) -> report.Row | None:
        table = self.query_one(DataTable)
        if not self.rows or table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.rows if r.key == key), None)

    @property
    def marked_rows(self) -> list[report.Row]:
        return [r for r in self.rows if r.key in self.marked]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_mark()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key in report.BY_KEY:
            self.sort_by(key, not self.reverse if key == self.sort_key else False)

    # ------------------------------------------------------------ actions

    def sort_by(self, key: str, reverse: bool) -> None:
        self.sort_key, self.reverse = key, reverse
        self.rows = report.sort_rows(self.rows, key, reverse)
        self._shown = [(r.key, *report.cells(r)) for r in self.rows]
        self.fill_table()

    def action_sort_next(self) -> None:
        keys = report.COLUMN_KEYS
        self.sort_by(keys[(keys.index(self.sort_key) + 1) % len(keys)], False)

    def action_reverse(self) -> None:
        self.sort_by(self.sort_key, not self.reverse)

    def action_mark(self) -> None:
        row = self.current_row
        if row is None:
            return
        self.marked ^= {row.key}
        table = self.query_one(DataTable)
        table.update_cell(row.key, "mark", "●" if row.key in self.marked else " ")
        self.show_marked()

    def action_ensemble(self) -> None:
        runs = sorted({r for row in self.marked_rows for r in row.run_ids})
        if len(runs) < 2:
            self.notify("Mark rows holding two or more finished runs first (space).", severity="warning")
            return
        self.notify(f"Voting with runs {report.id_ranges(runs)} …")
        self.vote(runs)

    @work(thread=True, exclusive=True, group="ensemble")
    def vote(self, runs: list[int]) -> None:
        """Read MNIST's test set and vote, off the UI thread, on a connection of its own."""
        from convlab import data as mnist_data

        try:
            with Store(self.store_path) as store:
                report.check_members(store, runs)
                run = report.build_ensemble(store, runs, mnist_data.load_mnist().test)
        except UserError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        self.app.call_from_thread(self.voted, run.id, run.test_at_best, len(runs))

    def voted(self, run_id: int, accuracy: float, members: int) -> None:
        if self.run_ids is not None:
            self.run_ids.append(run_id)  # so the new row shows in a view of chosen runs
        self.marked = {f"vote-{run_id}"}
        self._shown = None  # draw again, marks included
        self.reload()
        self.notify(f"Ensemble of {members} runs stored as run {run_id}: {accuracy:.2f}%.", title="Ensemble")

    def action_close(self) -> None:
        self.app.pop_screen()
