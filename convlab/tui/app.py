"""The lab: `convlab` with no arguments. Pick one of the chapter's networks,
start it, and watch it learn.

The app reads everything it shows from the run store and polls
`Store.version()` (SQLite's data_version, which changes whenever another
connection commits), so runs started here, by `convlab run` in another shell
or over SSH all appear and update the same way. Runs started here train in a
`convlab run --json` subprocess (see launcher.py); torch is never imported
by the lab itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.reactive import reactive
from textual.screen import Screen

from convlab.config.spec import Spec, scan_presets
from convlab.store import Store
from convlab.term.text import shown
from convlab.tui.key_order import OrderedKeys
from convlab.tui.keymap import APP_BINDINGS
from convlab.tui.launcher import Launch, Launcher
from convlab.tui.plain import lines

POLL_EVERY = 0.25  # seconds between looks at the store's data_version
STALE_EVERY = 5.0  # seconds between checks for runs whose process died
DARK, LIGHT = "textual-dark", "textual-light"


class ConvlabApp(OrderedKeys, App):
    TITLE = "convlab"
    CSS_PATH = Path(__file__).with_name("convlab.tcss")  # absolute, so subclasses elsewhere find it
    BINDINGS = APP_BINDINGS
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    store_version: reactive[int] = reactive(0)  # bumped when the store changed
    jobs_version: reactive[int] = reactive(0)  # bumped when one of the lab's jobs changed

    def __init__(self, store: str | os.PathLike | None = None, python: str | None = None):
        super().__init__()
        self.store = Store(store)
        self.store_path = str(Path(self.store.path).resolve())
        self.hostname = socket.gethostname()
        kwargs = {"python": python} if python else {}
        self.launcher = Launcher(self.store_path, self._job_changed, self.run_worker, **kwargs)
        self._seen_version: int | None = None
        self.sub_title = str(self.store.path)  # as given: short, and stable in snapshots

    def on_mount(self) -> None:
        from convlab.tui.screens.home import HomeScreen

        self.theme = DARK
        self.store.mark_stale()
        self.push_screen(HomeScreen())
        self.set_interval(POLL_EVERY, self.poll_store)
        self.set_interval(STALE_EVERY, self._mark_stale)
        self._on_hangup(self._hung_up)

    def on_unmount(self) -> None:
        self._on_hangup(None)
        self.launcher.close()

    def _on_hangup(self, handler) -> None:
        """A closed terminal or SSH session (SIGHUP) leaves as `q` does; `None`
        gives the signal back. Only where the loop may take signals (the main thread)."""
        if not hasattr(signal, "SIGHUP"):
            return
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            loop = asyncio.get_running_loop()
            if handler is None:
                loop.remove_signal_handler(signal.SIGHUP)
            else:
                loop.add_signal_handler(signal.SIGHUP, handler)

    def _hung_up(self) -> None:
        self.launcher.close()  # first: the terminal is gone, so the exit's last writes may fail
        self.exit()

    # ------------------------------------------------------------ the store

    def poll_store(self) -> None:
        version = self.store.version()
        if version != self._seen_version:
            self._seen_version = version
            self.store_version += 1

    def _mark_stale(self) -> None:
        if self.store.mark_stale():
            self.store_version += 1

    def _job_changed(self, job: Launch) -> None:
        self.jobs_version += 1
        if job.warning:
            self.notify(job.warning, title="Warning", severity="warning", timeout=10)
            job.warning = None
        if job.state == "failed" and job.error:
            self.notify(f"{job.label}: {job.error}", title="Run failed", severity="error", timeout=10)
        elif job.state == "waiting" and self.launcher.training():
            busy = ", ".join(j.label for j in self.launcher.training())
            self.notify(
                f"{job.label} waits for the device: {busy} {'is' if ', ' not in busy else 'are'} training.",
                title="Queued",
            )

    def notify(self, message: str, *, title: str = "", markup: bool = False, **options) -> None:
        """Every notification is plain text: names, paths and errors in it are the user's."""
        super().notify(lines(message), title=shown(title), markup=False, **options)

    # ------------------------------------------------------------ presets

    def presets(self) -> list[Spec]:
        """The shipped presets and the user's own, each file parsed; a broken file is
        listed in a notification instead of failing the list."""
        specs, broken = scan_presets()
        if broken:
            self.notify("\n".join(broken), title="Presets not listed", severity="warning")
        return specs

    # ------------------------------------------------------------ runs

    def launch(self, preset: str, **options) -> Launch:
        job = self.launcher.launch(preset, **options)
        self.watch_job(job)
        return job

    def watch_run(self, run_id: int) -> None:
        from convlab.tui.screens.run import RunScreen

        self.push_screen(RunScreen(run_id=run_id, job=self.launcher.job_of_run(run_id)))

    def watch_job(self, job: Launch) -> None:
        from convlab.tui.screens.run import RunScreen

        self.push_screen(RunScreen(job=job))

    def cancel_run(self, run_id: int | None, job: Launch | None = None) -> None:
        """Stop a run: the lab's own job by SIGTERM (or out of the queue), or a run
        started elsewhere on this machine by SIGTERM to the process that holds
        its lock (never to a pid the store merely names)."""
        job = job or (self.launcher.job_of_run(run_id) if run_id is not None else None)
        if job is not None and job.active:
            self.launcher.cancel(job)
            if job.state != "training":
                self.notify(f"{job.label}: taken out of the queue.")
            elif (last := self._in_last_evaluation(job.run_id)) is not None:
                self.notify(f"{job.label}: {last}")
            else:
                self.notify(f"{job.label}: stopping; it stays resumable (r).")
            return
        if run_id is None:
            return
        run = self.store.run(run_id)
        if run.status != "running":
            self.notify(f"run {run_id} is {run.status}, not running.", severity="warning")
        elif run.host != self.hostname:
            self.notify(f"run {run_id} trains on {run.host}; stop it there.", severity="warning")
        elif (pid := self.store.stop_run(run_id)) is not None:
            last = self._in_last_evaluation(run_id)
            self.notify(f"run {run_id}: asked process {pid} to stop; {last or 'it stays resumable (r).'}")
        else:
            self._mark_stale()
            self.notify(f"run {run_id}: its process is gone.", severity="warning")

    def _in_last_evaluation(self, run_id: int | None) -> str | None:
        """What stopping does to a run evaluating its last epoch: a stop is looked at only
        between epochs, so it finishes; None for any other run."""
        run = self.store.run(run_id) if run_id is not None else None
        p = run.progress if run is not None else {}
        if p.get("evaluating") and p.get("epoch") == run.epochs_planned:
            return f"run {run_id} is in its last evaluation, so it finishes rather than stopping."
        return None

    def resume_run(self, run_id: int | None) -> None:
        if run_id is None:
            return
        run = self.store.run(run_id)
        if run.status not in ("interrupted", "failed") or run.kind != "train":
            self.notify(
                f"run {run_id} is {run.status}: only an interrupted or failed training run resumes.", severity="warning"
            )
            return
        self.watch_job(self.launcher.resume(run_id))

    def show_sweep(self, sweep_id: int) -> None:
        from convlab.tui.screens.sweep import SweepScreen

        self.push_screen(SweepScreen(sweep_id))

    def compare(self, run_ids: list[int] | None, export: bool = False) -> None:
        """The compare view of `run_ids` (all runs for None); `export`: its export dialog at once."""
        from convlab.tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(run_ids, export=export))

    # ------------------------------------------------------------ keys

    def action_help(self) -> None:
        from convlab.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            # one help screen, kept after it closes: composing and laying out
            # its long text again cost about half of each `?` press
            if not self.is_screen_installed("help"):
                self.install_screen(HelpScreen(), "help")
            self.push_screen("help")

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def action_quit_lab(self) -> None:
        """Quit; a run that trains keeps going (the store has it), waiting ones are cancelled."""
        from convlab.tui.screens.dialogs import QuitScreen

        may_leave = getattr(self.screen, "may_leave", None)  # the editor asks about unsaved edits
        if may_leave is not None and not may_leave():
            return
        training = self.launcher.training()
        waiting = list(self.launcher.waiting)
        if not training and not waiting:
            self._quit()
            return
        self.push_screen(QuitScreen(training, waiting), lambda quit: self._quit() if quit else None)

    def _quit(self) -> None:
        self.launcher.close_queue()  # before exit cancels the workers, whose ends would start the next
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from convlab.tui.commands import lab_commands

        yield from super().get_system_commands(screen)
        yield from lab_commands(self, screen)


def main(store: str | None = None) -> int:
    ConvlabApp(store=store).run()
    return 0
