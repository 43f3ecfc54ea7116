"""The top of the live view: which run, where it is within its epoch (with
the images per second, the device and the time left), its device figures
(path, card, peak memory), and its best so far."""

from __future__ import annotations

import time

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from convlab.store import Epoch, Run
from convlab.term.format import counted, device_figures, duration, last_rate
from convlab.term.text import shown
from convlab.tui.estimate import epoch_left, eval_seconds, evaluating_for, run_left
from convlab.tui.launcher import Launch
from convlab.tui.widgets.architecture import hyper_parameters

BAR_WIDTH = 24
WIDE = 120


def bar(fraction: float, width: int = BAR_WIDTH) -> Text:
    done = int(round(max(0.0, min(1.0, fraction)) * width))
    return Text.assemble(("━" * done, "bold green"), ("━" * (width - done), "grey35"))


class RunStatus(Static):
    now = staticmethod(time.time)  # the clock for the time left (tests fix it)
    _height: int | None = None  # of the lines shown, wrapped to the width

    def show(
        self, run: Run | None, epochs: list[Epoch], job: Launch | None = None, ahead: list[Launch] = (), here: str = ""
    ) -> None:
        self._shown = (run, epochs, job, ahead, here)
        if run is None:
            self._update(self._waiting(job, ahead))
            return
        lines = [self._identity(run, here), self._config(run), self._progress(run, epochs, job)]
        lines += [self._device(run, epochs)] if device_figures(run) else []
        self._update(*lines, self._results(run, epochs))

    def _update(self, *lines: Text) -> None:
        """Show `lines`; lay the screen out again only when their height changed.
        The progress line changes some 50 times an epoch, and a layout of the
        whole screen each time delays the keys pressed meanwhile."""
        width = max(1, self.content_region.width or self.size.width)
        height = sum(len(line.wrap(self.app.console, width)) for line in lines)
        self.update(lines[0] if len(lines) == 1 else Group(*lines), layout=height != self._height)
        self._height = height

    @staticmethod
    def _config(run: Run) -> Text:
        """The run's own config (the settings it was launched with): layers, hyper-parameters, data slice."""
        if run.kind != "train":
            return Text(f"a plurality vote of runs {', '.join(map(str, run.members))}", style="dim")
        layers = " → ".join(layer.describe() for layer in run.spec.layers)
        text = Text.assemble(hyper_parameters(run.spec), " · ", layers, style="dim")
        text.no_wrap, text.overflow = True, "ellipsis"
        return text

    @staticmethod
    def _device(run: Run, epochs: list[Epoch]) -> Text:
        """How it trains and on what, how full the device is, how fast it goes:
        the images per second of the epoch under way, else of the last one."""
        p = run.progress if run.status == "running" else {}
        text = Text(shown(device_figures(run, p.get("images_per_s") or last_rate(epochs))), style="dim")
        text.no_wrap, text.overflow = True, "ellipsis"
        return text

    def on_resize(self) -> None:
        if getattr(self, "_shown", None):
            self.show(*self._shown)  # the bar's width follows the widget's

    @staticmethod
    def _waiting(job: Launch | None, ahead: list[Launch]) -> Text:
        if job is None:
            return Text("No run.")
        if job.state == "waiting":
            names = ", ".join(j.label for j in ahead if j is not job)
            busy = f": {names} {'are' if ', ' in names else 'is'} training" if names else ""
            return Text(shown(f"{job.label} waits for the device{busy}. It starts when that ends."), style="italic")
        if job.state == "training":
            device = "" if job.device == "auto" else f" on {job.device}"
            return Text(shown(f"{job.label}: starting{device} (loading MNIST)…"), style="italic")
        if job.state == "cancelled":
            return Text(shown(f"{job.label}: cancelled before it started training."), style="yellow")
        return Text(
            shown(f"{job.label}: {job.state}" + (f": {job.error}" if job.error else "")),
            style="bold red" if job.state == "failed" else "",
        )

    @staticmethod
    def _identity(run: Run, here: str) -> Text:
        text = Text.assemble((f"run {run.id}", "bold"), " · ", (shown(run.preset, 120), "bold"))
        if run.kind == "train":
            members = run.spec.train.repeats if run.spec.train.ensemble == 1 else run.spec.train.ensemble
            if members > 1:
                text.append(f" · member {run.member + 1}/{members}")
            text.append(f" · seed {run.seed}")
        text.append(f" · {run.device or '—'}")
        if run.host and here and run.host != here:
            text.append(f" · on {shown(run.host)}", style="italic")
        return text

    def _progress(self, run: Run, epochs: list[Epoch], job: Launch | None) -> Text:
        p = run.progress
        if job is not None and job.active and job.resumes == run.id and run.status != "running":
            return Text(f"resuming after epoch {run.epochs_done}/{run.epochs_planned} (loading MNIST)…", style="italic")
        if run.status == "running" and p:
            now = self.now()
            head = f"epoch {p['epoch']}/{run.epochs_planned} "
            evaluating = evaluating_for(run, now)
            if evaluating is not None:
                expected = eval_seconds(p.get("images_per_s"), p.get("eval_s"))
                text = Text.assemble(
                    head, ("evaluating", "bold yellow"), f" validation and test accuracy · {duration(evaluating)}"
                )
                if expected:
                    text.append(f" of ~{duration(expected)}")
            else:
                fraction = p["batch"] / max(1, p["batches"])
                width = BAR_WIDTH if self.size.width >= WIDE else BAR_WIDTH // 2  # one line at 100 columns
                text = Text.assemble(
                    head, bar(fraction, width), f" {fraction:4.0%} · {p['images_per_s']:,.0f} images/s"
                )
                text.append(f" · epoch ends in ~{duration(epoch_left(run, now))}")
            total = run_left(run, epochs, now)
            if total is not None and run.epochs_planned != p["epoch"]:
                text.append(f" · run ends in ~{duration(total)}")
            return text
        if run.status == "running":
            return Text("starting…", style="italic")
        if run.status == "finished":
            if run.kind == "ensemble":
                return Text(f"finished: a vote of runs {', '.join(map(str, run.members))}")
            return Text(f"finished {counted(run.epochs_done, 'epoch')} in {duration(run.duration)}")
        if run.status == "interrupted":
            return Text(
                f"interrupted after epoch {run.epochs_done}/{run.epochs_planned}: press r to resume", style="yellow"
            )
        if run.status == "pruned":  # a search's trial that fell behind (convlab search)
            return Text(f"pruned by its search after epoch {run.epochs_done}/{run.epochs_planned}", style="dim")
        return Text(shown(f"{run.status}: {run.error or 'no reason recorded'}"), style="bold red")

    @staticmethod
    def _results(run: Run, epochs: list[Epoch] = ()) -> Text:
        if run.best_val is None and run.test_at_best is None:
            return Text("best validation — · test at best —", style="dim")
        text = Text()
        if run.best_val is not None:
            text.append("best validation ")
            text.append(f"{run.best_val:.2f}%", style="bold")
            text.append(f" (epoch {run.best_epoch}) · ")
        last = epochs[-1] if epochs else None
        if last is not None and last.val_loss is not None:  # none for epochs stored before store version 3
            text.append(f"validation loss {last.val_loss:.4f} (epoch {last.epoch}) · ")
        text.append("test at best " if run.kind == "train" else "test ")
        text.append(f"{run.test_at_best:.2f}%" if run.test_at_best is not None else "—", style="bold")
        if run.book_figure is not None:
            text.append(f" · book {run.book_figure:.2f}%")
            if run.test_at_best is not None:
                text.append(f" ({run.test_at_best - run.book_figure:+.2f})")
        return text
