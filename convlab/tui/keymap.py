"""The key map, read from the screens' own bindings so that the help screen
and the docs' key map (docs/guide/lab.md; `python -c "from convlab.tui.keymap import markdown; print(markdown())"`)
cannot drift from what the keys do."""

from __future__ import annotations

from textual.binding import Binding

INTRO = """\
Pick one of the chapter's networks in **Presets** and press **Enter**: the run
settings open with the preset's values. Shorten the run there (fewer epochs, the
first few thousand training images), then **Launch**: the live view shows the
epoch's progress, the validation curve against the book's figure, the first
layer's filters and, when the run ends, the digits it got wrong. Runs started
with `convlab run` in another shell, or over SSH, appear and update the same way.
"""

# The app's own keys (ConvlabApp.BINDINGS). Help and Quit also have plain keys
# (? and q) on the screens where typing is not expected; f1 and ctrl+q work everywhere.
APP_BINDINGS = [
    Binding("f1", "help", "Help", show=False),
    Binding("ctrl+t", "toggle_theme", "Dark/light", show=False),
    Binding("ctrl+q", "quit_lab", "Quit", show=False, priority=True),
]

# Keys that are not bindings of the screen classes: Enter is the tables' own, the arrows the matrix's.
BEFORE = {"Home (presets and runs)": [("⏎", "On a preset: the run settings; on a run: its live view")]}
AFTER = {
    "Live view of a run": [
        (
            "← ↑ → ↓ ⏎",
            "On the confusion matrix (3): pick a cell; ⏎ shows those misclassified digits (on the diagonal: all)",
        ),
    ],
    "Everywhere": [
        ("ctrl+p", "Command palette: every action, by name"),
        ("tab / shift+tab", "Move between tables and fields"),
        ("? / q", "Help / Quit, where keys are not typed into a field"),
    ],
}


def key_label(binding: Binding) -> str:
    names = {"question_mark": "?", "escape": "esc"}
    return binding.key_display or ",".join(names.get(k, k) for k in binding.key.split(","))


def sections() -> list[tuple[str, list[tuple[str, str]]]]:
    from convlab.tui.screens.compare import CompareScreen
    from convlab.tui.screens.editor import EditorScreen
    from convlab.tui.screens.home import HomeScreen
    from convlab.tui.screens.run import RunScreen
    from convlab.tui.screens.settings import SettingsScreen
    from convlab.tui.screens.sweep import SweepScreen, SweepSetupScreen

    out = []
    for title, cls in (
        ("Home (presets and runs)", HomeScreen),
        ("Live view of a run", RunScreen),
        ("Run settings", SettingsScreen),
        ("Preset editor", EditorScreen),
        ("Compare view", CompareScreen),
        ("Sweep view (ctrl+p → Sweep N or Search N)", SweepScreen),
        ("Sweep and search forms (ctrl+p → Sweep or Search PRESET…)", SweepSetupScreen),
        ("Everywhere", APP_BINDINGS),
    ):
        bindings = cls if isinstance(cls, list) else cls.BINDINGS
        keys = [
            (key_label(b), b.tooltip or b.description)
            for b in bindings
            if isinstance(b, Binding) and not b.action.startswith("app.")
        ]
        out.append((title, keys))
    return [(title, BEFORE.get(title, []) + keys + AFTER.get(title, [])) for title, keys in out]


def markdown() -> str:
    lines = []
    for title, keys in sections():
        lines += [f"### {title}", "", "| key | does |", "| --- | --- |"]
        lines += [f"| `{key}` | {what} |" for key, what in keys]
        lines.append("")
    return "\n".join(lines)
