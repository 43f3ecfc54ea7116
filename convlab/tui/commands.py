"""The lab's entries in the command palette (ctrl+p): each preset to set up,
sweep or edit, recent runs to watch, recent sweeps, and the screen's own actions."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import SystemCommand
from textual.screen import Screen

from convlab.term.text import LAB_CELL_WIDTH
from convlab.tui.plain import as_markup

RECENT_RUNS = 10


def lab_commands(app, screen: Screen) -> Iterable[SystemCommand]:
    from convlab.tui.screens.draw import DrawScreen
    from convlab.tui.screens.editor import EditorScreen
    from convlab.tui.screens.settings import SettingsScreen
    from convlab.tui.screens.sweep import SearchSetupScreen, SweepSetupScreen

    yield SystemCommand("Help", "What to do first, and every key", app.action_help)
    yield SystemCommand("Dark/light", "Switch between the dark and the light theme", app.action_toggle_theme)
    yield SystemCommand(
        "Compare runs", "The compare view of the marked runs (all when none is marked)", lambda: app.compare(None)
    )
    if type(screen).__name__ != "CompareScreen":  # there, its own Export… is listed below
        yield SystemCommand(
            "Export runs…",
            "Write the comparison of every run as HTML, CSV, JSON or Markdown",
            lambda: app.compare(None, export=True),
        )
    yield SystemCommand(
        "Draw a digit", "Draw a digit and watch a finished run classify it", lambda: app.push_screen(DrawScreen())
    )
    for spec in app.presets():
        name = as_markup(spec.name, LAB_CELL_WIDTH)  # the palette reads its prompts and help as markup
        yield SystemCommand(
            f"Run {name}…",
            f"Set up and launch: {as_markup(spec.title, LAB_CELL_WIDTH)}",
            lambda spec=spec: app.push_screen(SettingsScreen(spec)),
        )
        yield SystemCommand(
            f"Sweep {name}…",
            "Train it over a grid of field values (convlab sweep --set)",
            lambda spec=spec: app.push_screen(SweepSetupScreen(spec)),
        )
        yield SystemCommand(
            f"Search {name}…",
            "Search its fields over ranges, pruning bad trials (convlab search --param)",
            lambda spec=spec: app.push_screen(SearchSetupScreen(spec)),
        )
        yield SystemCommand(
            f"Edit {name}",
            f"Open {as_markup(Path(spec.source).name)} in the editor",
            lambda spec=spec: app.push_screen(EditorScreen(Path(spec.source))),
        )
    for record in app.store.sweeps()[:RECENT_RUNS]:
        if record.get("search"):
            from convlab.runs.search import describe

            title, grid = f"Search {record['id']}", describe(record)
        else:
            title = f"Sweep {record['id']}"
            grid = " × ".join(f"{field} ({len(values)})" for field, values in record["axes"])
        yield SystemCommand(title, f"{record['preset']}: {grid}", partial(app.show_sweep, record["id"]))
    for run in app.store.runs(limit=RECENT_RUNS):
        yield SystemCommand(
            f"Watch run {run.id}",
            f"{as_markup(run.preset, LAB_CELL_WIDTH)}, {run.status}",
            partial(app.watch_run, run.id),
        )
    # The active screen's own keys, by name (bindings with a description).
    for binding in screen.BINDINGS:
        if binding.description and binding.action not in ("back", "close") and not binding.action.startswith("app."):
            yield SystemCommand(
                binding.description,
                f"key {binding.key_display or binding.key}",
                partial(screen.run_action, binding.action),
            )
