"""The compare view: the comparison table (sortable by any column), the
validation curves of the marked rows overlaid, the differences of two marked
rows' configs, and an ensemble vote of the marked finished runs.

Rows come from `convlab.results.report` (the same as `convlab compare`): a run, a
group of repeats (best of N) or an ensemble vote. Space marks a row; a click
on a header, or `s`, sorts; `r` reverses; `e` votes with the marked rows'
runs and stores the vote as a run, which then appears as a row of its own;
`o` writes what is on screen (the marked rows, else all) as an export file.
Runs marked on the home screen arrive marked.
The table follows the app's store change counter, so runs that finish
elsewhere update it.
"""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from convlab.errors import UserError
from convlab.results import report
from convlab.runs.ensemble import build_ensemble, check_members
from convlab.term.format import id_ranges
from convlab.term.plots import SERIES_COLORS, draw_series
from convlab.tui.plain import lines, literal
from convlab.tui.widgets.footer import KeyFooter

MAX_CURVES = 10  # with nothing marked, the first rows' curves


# Left out first where the table is too narrow (80×24): Δ book and the figures stay whole.
DROP_ORDER = ("device", "time", "epoch_time", "best", "mean", "runs", "n", "status", "book", "epochs")


class CompareScreen(Screen):
    BINDINGS = [
        Binding("space", "mark", "Mark", key_display="␣", tooltip="Mark or unmark a row (curves, differences)"),
        Binding("s", "sort_next", "Sort", tooltip="Sort by the next column (or click a header)"),
        Binding("r", "reverse", "Reverse", tooltip="Reverse the order"),
        Binding("e", "ensemble", "Ensemble", tooltip="Vote with the marked rows' finished runs"),
        Binding("o", "export", "Export…", tooltip="Write what is on screen as HTML, CSV, JSON or Markdown"),
        Binding("escape", "close", "Back"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(self, run_ids: list[int] | None = None, export: bool = False):
        super().__init__()
        self.run_ids = list(run_ids) if run_ids else None
        self.export_at_once = export  # opened from the palette's Export
        self.rows: list[report.Row] = []
        self.marked: set[str] = set()  # row keys
        self.sort_key, self.reverse = "row", False
        self._shown: list[tuple] | None = None  # the table's cells as last drawn

    def compose(self) -> ComposeResult:
        yield Static(id="compare-info")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="compare-bottom"):
            with Vertical(id="compare-plot"):
                yield Static(id="compare-legend")
                yield PlotextPlot(id="compare-curves")
            yield Static(id="compare-diff")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.reload()
        if self.run_ids:  # the runs marked on the home screen arrive marked
            self.marked = {r.key for r in self.rows}
            self._shown = None
            self.reload()
        self.query_one(DataTable).focus()
        if self.export_at_once:
            self.call_after_refresh(self.action_export)
        self.watch(self.app, "store_version", self.reload, init=False)

    @property
    def store(self):
        return self.app.store

    # ------------------------------------------------------------ content

    def reload(self) -> None:
        """Read the rows again (the selection may have grown: a new vote)."""
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
        columns = self.fitting_columns(table.size.width or self.app.size.width)
        for column in columns:
            arrow = (" ▼" if self.reverse else " ▲") if column.key == self.sort_key else ""
            table.add_column(column.header + arrow, key=column.key)
        for row in self.rows:
            cells = [literal(c.text(row)) for c in columns]
            table.add_row("●" if row.key in self.marked else " ", *cells, key=row.key)
        if current is not None and current.key in {r.key for r in self.rows}:
            table.move_cursor(row=table.get_row_index(current.key))
        column = report.BY_KEY[self.sort_key].header
        self.query_one("#compare-info", Static).update(
            f"{len(self.rows)} rows · sorted by {column}{' (descending)' if self.reverse else ''} · "
            "space marks a row · two marked: their differences · e: ensemble of the marked runs"
        )

    def fitting_columns(self, width: int) -> list[report.Column]:
        """The columns that fit whole, leaving out the least useful first (DROP_ORDER)."""

        def needs(column: report.Column) -> int:
            header = cell_len(column.header) + (2 if column.key == self.sort_key else 0)  # the sort arrow
            return max([header, *(cell_len(column.text(r)) for r in self.rows)]) + 2  # a cell's padding

        columns = report.columns(self.rows)  # a sweep's points: their swept fields as columns
        total = 3 + sum(map(needs, columns))  # the mark column
        for key in DROP_ORDER:
            if total <= width:
                break
            columns.remove(report.BY_KEY[key])
            total -= needs(report.BY_KEY[key])
        return columns

    def on_resize(self) -> None:
        if self.rows:
            self.fill_table()

    def show_marked(self) -> None:
        marked = self.marked_rows
        self.draw_curves(marked or self.rows[:MAX_CURVES])
        diff = self.query_one("#compare-diff", Static)
        if len(marked) == 2:
            diff.update(Text(lines("\n".join(["Differences", ""] + report.diff_lines(*marked)))))
        else:
            diff.update(
                f"{len(marked)} marked. Mark two rows (space) to see how their configs differ; "
                "mark finished runs and press e for their ensemble vote."
            )

    def draw_curves(self, rows: list[report.Row]) -> None:
        from convlab.results.curves import curve_series

        plot = self.query_one(PlotextPlot)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        series = curve_series(self.store, rows)
        draw_series(plot.plt, series, legend=False, rows=(plot.size.height or 16) - 4)
        plot.plt.title("validation accuracy (%)" + ("" if self.marked else " · all rows"))
        plot.refresh()
        # the legend above the plot, where it covers no curve
        legend = Text()
        for i, (label, _) in enumerate(series):
            legend.append(("  " if i else "") + "━ ", style=SERIES_COLORS[i % len(SERIES_COLORS)])
            legend.append(label)
        self.query_one("#compare-legend", Static).update(legend)

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
        try:
            check_members(self.store, runs)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self.notify(f"Voting with runs {id_ranges(runs)} …")
        self.read_test_set(runs)

    @work(thread=True, exclusive=True, group="ensemble")
    def read_test_set(self, runs: list[int]) -> None:
        """Read MNIST's test set (seconds) off the UI thread; the vote itself is quick."""
        from convlab.data import mnist as mnist_data

        try:
            test = mnist_data.load_mnist().test
        except UserError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        self.app.call_from_thread(self.vote, runs, test)

    def vote(self, runs: list[int], test) -> None:
        """Vote and store it through the app's store (on the UI thread, as every use of it)."""
        try:
            run = build_ensemble(self.store, runs, test)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self.voted(run.id, run.test_at_best, len(runs))

    def voted(self, run_id: int, accuracy: float, members: int) -> None:
        if self.run_ids is not None:
            self.run_ids.append(run_id)  # so the new row shows in a view of chosen runs
        self.marked = {f"vote-{run_id}"}
        self._shown = None  # draw again, marks included
        self.reload()
        self.notify(f"Ensemble of {members} runs stored as run {run_id}: {accuracy:.2f}%.", title="Ensemble")

    @property
    def shown_rows(self) -> list[report.Row]:
        """What the view is about: the marked rows, or every row when none is marked."""
        return self.marked_rows or self.rows

    def action_export(self) -> None:
        from convlab.tui.screens.dialogs import ExportScreen

        rows = self.shown_rows
        what = f"the {len(rows)} marked rows" if self.marked else f"all {len(rows)} rows"
        self.app.push_screen(ExportScreen("convlab-compare.html", self.export_to, what))

    def export_to(self, path: Path, fmt: str) -> None:
        """Called by the dialog once the name is checked. The file is written off the UI
        thread: an HTML report looks inside each kept network in a child process (seconds)."""
        self.notify(f"Writing {fmt.upper()} to {path.resolve()} …", timeout=4)
        self.write_export_file(path, fmt, list(self.shown_rows))

    @work(thread=True, group="export")
    def write_export_file(self, path: Path, fmt: str, rows: list[report.Row]) -> None:
        from convlab.results import export
        from convlab.store import Store
        from convlab.tui.screens.dialogs import write_export

        try:
            with Store(self.store.path, read_only=True) as store:  # this thread's own connection
                write_export(path, export.render_as(store, rows, fmt))
        except UserError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=10)
            return
        said = f"Wrote {len(rows)} rows as {fmt.upper()} to {path.resolve()}"
        self.app.call_from_thread(self.notify, said, title="Exported", timeout=10)

    def action_close(self) -> None:
        self.app.pop_screen()
