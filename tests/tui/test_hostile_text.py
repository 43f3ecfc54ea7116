"""The lab shows every piece of user text literally: preset names and titles
that look like Rich markup, control and right-to-left characters, run errors.
And its settings form keeps the files it writes inside their folder."""

from __future__ import annotations

from pathlib import Path

from convlab.config.spec import parse_text
from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.home import HomeScreen
from convlab.tui.screens.settings import SettingsScreen

from helpers import run_of_a_killed_process, toml_text
from tui_helpers import run_async, screen_text, wait_until

HOSTILE_NAME = "[/]"
HOSTILE_TITLE = "[bold red]loud[/bold red] [link=http://x]y[/link] \u202egnp.exe [/"
LAYERS = [{"type": "fc", "n_out": 30}, {"type": "softmax"}]


def hostile_store(path: Path) -> None:
    spec = parse_text(toml_text(LAYERS, {"epochs": 1}, name=HOSTILE_NAME, title=HOSTILE_TITLE))
    with Store(path) as store:
        group = store.create_group(spec)
        run = store.create_run(spec, group_id=group, seed=1, device="cpu")
        store.finish(run, "failed", error="[/] broke: \x1b[31mred\x1b[0m")
        store.create_run(spec.with_train(epochs=2), group_id=group, member=1, seed=2, device="cpu")


@run_async
async def test_markup_in_names_titles_and_errors_is_shown_literally(tmp_path, fixed_world):
    (fixed_world / "hostile.toml").write_text(toml_text(LAYERS, None, name="[/]x", title="[on red]t[/"))
    hostile_store(tmp_path / "h.sqlite")
    app = ConvlabApp(store=str(tmp_path / "h.sqlite"))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        text = screen_text(app)
        assert "[/]" in text and "[/]x" in text
        assert "\u202e" not in text and "\x1b" not in text
        app.watch_run(1)
        await pilot.pause()
        await wait_until(pilot, lambda: "[/] broke" in screen_text(app))
        text = screen_text(app)
        assert "[bold red]loud" in text and "\\u202e" in text and "\x1b" not in text
        app.notify("[/] a notification with markup-like text")
        await pilot.pause()
        assert any(n.message.startswith("[/] a notification") for n in app._notifications)
        app.compare(None)
        await pilot.pause()
        assert "[/]" in screen_text(app)


@run_async
async def test_a_hostile_preset_in_the_settings_form_and_the_palette(tmp_path, fixed_world):
    (fixed_world / "hostile.toml").write_text(toml_text(LAYERS, None, name="[/]x", title="[on red]t[/"))
    app = ConvlabApp(store=str(tmp_path / "s.sqlite"))
    async with app.run_test(size=(120, 40)) as pilot:
        spec = next(s for s in app.presets() if s.name == "[/]x")
        app.push_screen(SettingsScreen(spec))
        await pilot.pause()
        assert "[/]x · [on red]t[/" in screen_text(app)
        app.screen.query_one("#eta").value = "nan"
        await pilot.pause()
        assert "train.eta is nan" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"Run [/")
        await pilot.pause(0.5)
        assert "Run [/]x…" in screen_text(app)


@run_async
async def test_settings_form_writes_inside_the_jobs_folder_whatever_the_name(tmp_path, fixed_world):
    """A changed field makes the form write <jobs folder>/<name>-custom.toml: a
    name like ../../x or an absolute path becomes a safe name inside it. The
    folder is removed when the lab closes."""
    tiny = (fixed_world / "tiny.toml").read_text()
    escape = tmp_path / "outside"
    escape.mkdir()
    (fixed_world / "evil.toml").write_text(tiny.replace('name = "tiny"', f'name = "../../{escape.name}/x"', 1))
    (fixed_world / "abs.toml").write_text(tiny.replace('name = "tiny"', f'name = "{escape}/y"', 1))
    app = ConvlabApp(store=str(tmp_path / "s.sqlite"))
    written = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            folder = app.launcher.folder
            for stem in ("evil", "abs"):
                spec = next(s for s in app.presets() if s.source.endswith(f"/{stem}.toml"))
                app.push_screen(SettingsScreen(spec))
                await pilot.pause()
                app.screen.query_one("#eta").value = "0.2"  # not a run option: needs a file of its own
                app.screen.query_one("#epochs").value = "1"
                app.screen.query_one("#train_limit").value = "100"
                await pilot.press("ctrl+l")
                job = app.launcher.jobs[-1]
                written.append(Path(job.args[0]))
                await wait_until(pilot, lambda job=job: not job.active, timeout=120)
                assert job.state == "finished", job.error
    finally:
        for job in app.launcher.jobs:
            if job.process is not None and job.process.returncode is None:
                job.process.kill()
    assert all(p.parent == folder for p in written), written
    assert list(escape.iterdir()) == [] and not (tmp_path.parent / "x-custom.toml").exists()
    assert not folder.exists()  # the lab removed its temporary jobs folder


@run_async
async def test_x_never_signals_the_pid_a_store_names(tmp_path, fixed_world):
    """A run whose process died, with pid -1 in the store (kill(-1) would signal
    every process of the user): x sends nothing and the run becomes interrupted."""
    path = tmp_path / "s.sqlite"
    Store(path).close()
    run_id = run_of_a_killed_process(path)
    with Store(path) as store:
        store.db.execute("UPDATE runs SET pid=-1 WHERE id=?", (run_id,))
    app = ConvlabApp(store=str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        app.store.db.execute("UPDATE runs SET status='running' WHERE id=?", (run_id,))
        app.cancel_run(run_id)
        await pilot.pause()
        assert app.store.run(run_id).status == "interrupted"
        assert any("its process is gone" in n.message for n in app._notifications)
