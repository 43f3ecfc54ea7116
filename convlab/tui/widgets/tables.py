"""The home screen's two tables: the chapter's presets and the runs in the store
(with the lab's own jobs that still wait for the device)."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from convlab.config.spec import Spec
from convlab.store import Run
from convlab.term.format import DASH, count, data_label, data_size, pct, swept_header, swept_value, when
from convlab.tui.launcher import Launch
from convlab.tui.plain import literal

STATUS_STYLE = {
    "running": "bold green",
    "finished": "",
    "failed": "bold red",
    "diverged": "bold red",
    "interrupted": "yellow",
    "pruned": "dim",  # stopped early by its search's pruner: final, not a fault
    "waiting": "italic cyan",
}


def sync_rows(table: DataTable, rows: list[tuple[str, tuple]]) -> None:
    """Show `rows` (key, cells), keeping the cursor on the same key. Cells are
    updated in place when the keys are unchanged, so a live table does not flicker."""
    rows = [(key, tuple(map(literal, cells))) for key, cells in rows]  # a str cell would be read as markup
    keys = [key for key, _ in rows]
    current = [row.key.value for row in table.ordered_rows]
    if keys == current:
        columns = [c.key for c in table.ordered_columns]
        for key, cells in rows:
            old = table.get_row(key)
            for column, before, after in zip(columns, old, cells):
                if before != after:
                    table.update_cell(key, column, after, update_width=True)
        return
    selected = current[table.cursor_row] if table.row_count and 0 <= table.cursor_row < len(current) else None
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


class RowTable(DataTable):
    """A table of whole rows, zebra-striped, with the columns of COLUMNS (label, key)."""

    COLUMNS: tuple[tuple[str, str], ...] = ()

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, key in self.COLUMNS:
            self.add_column(label, key=key)


class PresetTable(RowTable):
    """name, book figure, parameters, data, title: one row per preset file.
    Where the columns before the title do not fit whole (home at 80×24), the
    parameters, then the book's figure, are left out rather than the data cut."""

    BINDINGS = [Binding("enter", "select_cursor", "Run…", key_display="⏎")]
    COLUMNS = (("preset", "name"), ("book %", "book"), ("params", "params"), ("data", "data"), ("title", "title"))
    SPARE = ("params", "book")  # left out in this order (the details beside show both)
    PADDING = 2  # a cell's padding, one column each side
    SCROLLBAR = 2

    def on_mount(self) -> None:  # after RowTable's (Textual calls each class's handler)
        self._rows: list[tuple[str, tuple]] = []
        self.shown_columns = tuple(key for _, key in self.COLUMNS)

    def show(self, specs: list[Spec]) -> None:
        self._rows = [
            (
                s.source or s.name,
                (
                    s.name,
                    pct(s.book_figure),
                    Text(count(s.params), justify="right"),
                    data_size(s.train.data),
                    s.title,
                ),
            )
            for s in specs
        ]
        self._fit()

    def on_resize(self) -> None:
        if self._rows:
            self._fit()

    def _fit(self) -> None:
        width = self.size.width
        needs = {
            key: max(
                [
                    len(label),
                    *(
                        Text(cells[i]).cell_len if isinstance(cells[i], str) else cells[i].cell_len
                        for _, cells in self._rows
                    ),
                ]
            )
            + self.PADDING
            for i, (label, key) in enumerate(self.COLUMNS)
            if key != "title"  # the last column: cut at the edge, as text
        }
        keys = [key for _, key in self.COLUMNS]
        for spare in self.SPARE:
            if not width or sum(needs[k] for k in keys if k in needs) + self.SCROLLBAR <= width:
                break
            keys.remove(spare)
        keys = tuple(keys)
        index = [i for i, (_, key) in enumerate(self.COLUMNS) if key in keys]
        if keys != self.shown_columns:
            self.clear(columns=True)
            for i in index:
                self.add_column(self.COLUMNS[i][0], key=self.COLUMNS[i][1])
            self.shown_columns = keys
        sync_rows(self, [(key, tuple(cells[i] for i in index)) for key, cells in self._rows])

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value


def _preset_cell(run: Run) -> str | Text:
    """The preset, then the run's tags (dim): `relu #sweep`."""
    if not run.tags:
        return run.preset
    text = Text(run.preset)
    for tag in run.tags:
        text.append(f" #{tag}", style="dim")
    return text


class RunTable(RowTable):
    """The store's runs, newest first, after the lab's jobs that wait for the device.
    Columns are as wide as their content; those that do not fit the width are
    left out, the least useful first (DROP_ORDER)."""

    BINDINGS = [Binding("enter", "select_cursor", "Watch", key_display="⏎")]
    COLUMNS = (
        ("", "mark"),
        ("run", "id"),
        ("status", "status"),
        ("preset", "preset"),
        ("epochs", "epochs"),
        ("data", "data"),
        ("best val", "best"),
        ("test@best", "test"),
        ("book", "book"),
        ("device", "device"),
        ("started", "started"),
    )
    DROP_ORDER = ("started", "device", "book", "best", "data")
    PADDING = 2  # a cell's padding, one column each side
    SWEPT_AT = 4  # a sweep's fields go after the preset: they tell its points apart

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._rows: list[tuple[str, tuple]] = []
        self._columns = self.COLUMNS  # with a column per swept field of the runs shown
        self.shown_columns: tuple[str, ...] = ()

    def show(
        self, runs: list[Run], waiting: list[Launch], marked: set[int], swept: dict[int, dict] | None = None
    ) -> None:
        """`swept`: the swept fields of each sweep point's group (Store.swept_fields)."""
        points = {r.id: (swept or {}).get(r.group_id, {}) for r in runs}
        names = list(dict.fromkeys(name for fields in points.values() for name in fields))
        at = self.SWEPT_AT
        self._columns = self.COLUMNS[:at] + tuple((swept_header(n), f"set:{n}") for n in names) + self.COLUMNS[at:]
        rows = [
            (
                f"job-{j.number}",
                (
                    " ",
                    DASH,
                    Text("waiting", style=STATUS_STYLE["waiting"]),
                    j.label,
                    *([""] * len(names)),
                    DASH,
                    DASH,
                    DASH,
                    DASH,
                    DASH,
                    j.device,
                    "waits for the device",
                ),
            )
            for j in reversed(waiting)
        ]
        rows += [(str(r.id), self._with_swept(self._cells(r, r.id in marked), points[r.id], names)) for r in runs]
        self._rows = rows
        self._fit()

    def on_resize(self) -> None:
        if self._rows:
            self._fit()

    def _with_swept(self, cells: tuple, fields: dict, names: list[str]) -> tuple:
        at = self.SWEPT_AT
        return (*cells[:at], *(swept_value(fields[n]) if n in fields else "" for n in names), *cells[at:])

    def _fit(self) -> None:
        keys = self.fitting_columns(self.scrollable_content_region.width or self.size.width)
        index = [i for i, (_, key) in enumerate(self._columns) if key in keys]
        if keys != self.shown_columns:
            self.clear(columns=True)
            for i in index:
                self.add_column(self._columns[i][0], key=self._columns[i][1])
            self.shown_columns = keys
        sync_rows(self, [(key, tuple(cells[i] for i in index)) for key, cells in self._rows])

    def fitting_columns(self, width: int) -> tuple[str, ...]:
        widths = {
            key: max(
                [len(label)]
                + [
                    Text(c).cell_len if isinstance(c, str) else c.cell_len
                    for c in (cells[i] for _, cells in self._rows)
                ]
            )
            + self.PADDING
            for i, (label, key) in enumerate(self._columns)
        }
        keys = [key for _, key in self._columns]
        swept = [key for key in keys if key.startswith("set:")]
        for drop in (*self.DROP_ORDER, *reversed(swept)):  # the swept fields go last: they name the point
            if sum(widths[k] for k in keys) <= width:
                break
            keys.remove(drop)
        return tuple(keys)

    @staticmethod
    def _cells(r: Run, marked: bool) -> tuple:
        if r.kind == "ensemble":
            epochs = f"vote of {len(r.members)}"
        elif r.status == "running" and r.progress:
            p = r.progress
            epochs = f"{p.get('epoch', r.epochs_done + 1)}/{r.epochs_planned} {p['batch'] / p['batches']:.0%}"
        else:
            epochs = f"{r.epochs_done}/{r.epochs_planned}"
        data = DASH if r.kind == "ensemble" else data_label(r.spec.train.data, r.spec.train.train_limit)
        return (
            "●" if marked else " ",
            Text(str(r.id), justify="right"),
            Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            _preset_cell(r),
            epochs,
            data,
            pct(r.best_val),
            pct(r.test_at_best),
            pct(r.book_figure),
            r.device or DASH,
            when(r.started),
        )

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    @property
    def selected_run(self) -> int | None:
        key = self.selected_key
        return int(key) if key and key.isdigit() else None
