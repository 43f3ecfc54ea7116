"""Pilot tests that need no training: presets and their layers, the editor's
validation and saving, the settings form, help and the palette's keys."""

from __future__ import annotations

import pytest

from convlab.tui.app import ConvlabApp
from convlab.tui.screens.dialogs import SaveAsScreen
from convlab.tui.screens.editor import CheckPanel, EditorScreen
from convlab.tui.screens.help import HelpScreen
from convlab.tui.screens.home import HomeScreen
from convlab.tui.screens.settings import SettingsScreen
from convlab.tui.widgets.tables import PresetTable

from tui_helpers import run_async, screen_text


async def _select_preset(pilot, name: str) -> None:
    table = pilot.app.screen.query_one(PresetTable)
    table.focus()
    while table.selected_key is None or not table.selected_key.endswith(f"/{name}.toml"):
        await pilot.press("down")


@run_async
async def test_select_a_preset_shows_its_layers(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, HomeScreen)
        await _select_preset(pilot, "relu")
        await pilot.pause()
        text = screen_text(app)
        for expected in (
            "relu · book 99.23%",
            "conv-pool(20)",
            "20×12×12",
            "conv-pool(40)",
            "40×4×4",
            "20,040",
            "FC(100)",
            "85,670",
            "η 0.03",
            "λ 0.1",
        ):
            assert expected in text, expected
        # the runs from the store are listed too
        assert "interrupted" in text and "running" in text and "99.12" in text


@run_async
async def test_edit_with_an_error_then_fix_and_save_as_a_new_file(seeded_store, fixed_world):
    shipped = (fixed_world / "relu.toml").read_text()
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _select_preset(pilot, "relu")
        await pilot.press("e")
        assert isinstance(app.screen, EditorScreen)
        area = app.screen.query_one("#toml")
        line = next(i for i, text in enumerate(area.text.splitlines()) if text.startswith("n_out = 100"))
        area.move_cursor((line, len("n_out = 100")))
        await pilot.press("enter", *"n_in = 2880")
        panel = app.screen.query_one(CheckPanel)
        assert panel.has_class("-error")
        text = screen_text(app)
        assert "layers[2].n_in" in text and f"line {line + 2}" in text
        assert "is 2880 but the layer before" in text and "gives 640" in text

        await pilot.press("ctrl+s")  # refused while the text is wrong
        assert isinstance(app.screen, EditorScreen)

        await pilot.press(*["backspace"] * len("\nn_in = 2880"))
        assert not panel.has_class("-error")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SaveAsScreen)
        name = app.screen.query_one("#name")
        name.value = "relu"  # a shipped preset: refused, and said so
        await pilot.press("enter")
        assert isinstance(app.screen, SaveAsScreen)
        assert "one of the chapter's presets" in screen_text(app)
        name.value = "my-relu"
        await pilot.press("enter")
        assert isinstance(app.screen, EditorScreen)

    saved = fixed_world / "my-relu.toml"
    assert saved.is_file()
    assert 'name = "my-relu"' in saved.read_text() and "row =" not in saved.read_text()
    assert (fixed_world / "relu.toml").read_text() == shipped


@run_async
async def test_a_syntax_error_shows_its_line(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await _select_preset(pilot, "tiny")
        await pilot.press("e")
        area = app.screen.query_one("#toml")
        area.move_cursor((0, 0))
        await pilot.press(*"= ")
        assert "not valid TOML" in screen_text(app)
        assert "line 1" in screen_text(app)


@run_async
async def test_settings_form_validates_and_saves(seeded_store, fixed_world):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await _select_preset(pilot, "relu")
        await pilot.press("enter")
        assert isinstance(app.screen, SettingsScreen)
        form = app.screen
        form.query_one("#eta").value = "-1"
        await pilot.pause()
        assert "eta is -1.0; it must be a number above 0" in screen_text(app)
        form.query_one("#eta").value = "0.05"
        form.query_one("#epochs").value = "7"
        await pilot.pause()
        assert "✓ will run: 3 runs × 7 epochs × 50,000 images" in screen_text(app)
        await pilot.press("ctrl+s")
        app.screen.query_one("#name").value = "relu-fast"
        await pilot.press("enter")
        await pilot.pause()
    text = (fixed_world / "relu-fast.toml").read_text()
    assert "eta = 0.05" in text and "epochs = 7" in text
    # not to be mistaken for the original in the list: its own title, and no book figure
    assert 'title = "relu with epochs 7, η 0.05"' in text and "book_figure" not in text


@run_async
async def test_help_and_theme_keys(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)
        dark = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != dark


@run_async
async def test_compare_key_opens_the_compare_view(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#runs").focus()
        await pilot.press("space", "down", "space", "c")
        await pilot.pause()
        assert type(app.screen).__name__ == "CompareScreen"


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
@run_async
async def test_every_footer_key_fits_or_is_in_the_palette(seeded_store, size):
    """The footer lists each key of the screen; at 80 columns the palette (ctrl+p) has them all."""
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=size):
        commands = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Edit", "Watch", "Cancel", "Resume", "Mark", "Compare", "Help", "Dark/light"):
            assert title in commands, title


@run_async
async def test_the_editor_panel_cuts_no_layer_name_and_keeps_its_width(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await _select_preset(pilot, "relu")
        await pilot.press("e")
        await pilot.pause()
        panel, area = app.screen.query_one(CheckPanel), app.screen.query_one("#toml")
        widths = (panel.size.width, area.size.width)
        text = screen_text(app)
        assert "conv-pool(20)" in text and "conv-pool(40)" in text and "pool(2…" not in text
        area.load_text(area.text.replace("eta = 0.03", "eta = -1"))
        await pilot.pause()
        assert panel.has_class("-error") and (panel.size.width, area.size.width) == widths
    async with ConvlabApp(store=seeded_store).run_test(size=(160, 48)) as pilot:
        await _select_preset(pilot, "relu")
        await pilot.press("e")
        await pilot.pause()
        assert "20×12×12" in screen_text(pilot.app)  # room for the shapes


@run_async
async def test_ctrl_q_in_the_editor_asks_before_discarding_edits(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _select_preset(pilot, "tiny")
        await pilot.press("e")
        area = app.screen.query_one("#toml")
        area.move_cursor((0, 0))
        await pilot.press(*"# mine\n")
        await pilot.press("ctrl+q")  # asks: the edit is not saved
        await pilot.pause()
        assert isinstance(app.screen, EditorScreen) and app.is_running
        assert any("Unsaved changes" in n.message and "ctrl+q again quits" in n.message for n in app._notifications)
        await pilot.press("ctrl+q")  # the same key again quits
        await pilot.pause()
    assert app.return_code == 0


@run_async
async def test_save_as_from_the_editor_drops_the_book_figure_it_did_not_earn(seeded_store, fixed_world):
    """A changed copy of relu (λ 0.5) is not compared against the book: no book
    figure, and its title and description say what it derives from."""
    from convlab.config.spec import load

    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _select_preset(pilot, "relu")
        await pilot.press("e")
        area = app.screen.query_one("#toml")
        area.load_text(area.text.replace("lmbda = 0.1", "lmbda = 0.5"))
        await pilot.press("ctrl+s")
        app.screen.query_one("#name").value = "relu-half"
        await pilot.press("enter")
        assert isinstance(app.screen, EditorScreen)
    copy = load(str(fixed_world / "relu-half.toml"))
    assert copy.book_figure is None and copy.book_note == "" and copy.row == 0
    assert copy.title == "relu with λ 0.5" and copy.description.startswith("Derived from relu")
    assert copy.train.lmbda == 0.5
