"""The top of the live view: which run, where it is within its epoch (with
the images per second, the device and the time left), and its best so far."""

from __future__ import annotations

import statistics

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from convlab.store import Epoch, Run
from convlab.format import duration
from convlab.text import shown
from convlab.tui.launcher import Job

BAR_WIDTH = 24


def bar(fraction: float, width: int = BAR_WIDTH) -> Text:
    done = int(round(max(0.0, min(1.0, fraction)) * width))
    return Text.assemble(("━" * done, "bold green"), ("━" * (width - done), "grey35"))


def run_eta(run: Run, epochs: list[Epoch]) -> float | None:
    """The rest of this epoch plus the epochs to come at their mean pace so far."""
    p = run.progress
    if not p or p.get("eta_s") is None or run.epochs_planned is None:
        return None
    seconds = [e.seconds for e in epochs if e.seconds]
    later = run.epochs_planned - p["epoch"]
    if later and not seconds:
        return None
    return p["eta_s"] + later * (statistics.fmean(seconds) if seconds else 0.0)


class RunStatus(Static):
    def show(self, run: Run | None, epochs: list[Epoch], job: Job | None = None, ahead: Job | None = None,
             here: str = "") -> None:
        if run is None:
            self.update(self._waiting(job, ahead))
            return
        self.update(Group(self._identity(run, here), self._progress(run, epochs), self._results(run)))

    @staticmethod
    def _waiting(job: Job | None, ahead: Job | None) -> Text:
        if job is None:
            return Text("No run.")
        if job.state == "waiting":
            busy = f": {ahead.label} is training" if ahead else ""
            return Text(shown(f"{job.label} waits for the device{busy}. It starts when that ends."), style="italic")
        if job.state == "training":
            device = "" if job.device == "auto" else f" on {job.device}"
            return Text(shown(f"{job.label}: starting{device} (loading MNIST)…"), style="italic")
        return Text(shown(f"{job.label}: {job.state}" + (f": {job.error}" if job.error else "")),
                    style="bold red" if job.state == "failed" else "")

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

    @staticmethod
    def _progress(run: Run, epochs: list[Epoch]) -> Text:
        p = run.progress
        if run.status == "running" and p:
            fraction = p["batch"] / max(1, p["batches"])
            text = Text.assemble(f"epoch {p['epoch']}/{run.epochs_planned} ", bar(fraction),
                                 f" {fraction:4.0%} · {p['images_per_s']:,.0f} images/s")
            text.append(f" · epoch ends in {duration(p.get('eta_s'))}")
            total = run_eta(run, epochs)
            if total is not None:
                text.append(f" · run ends in ~{duration(total)}")
            return text
        if run.status == "running":
            return Text("starting…", style="italic")
        if run.status == "finished":
            if run.kind == "ensemble":
                return Text(f"finished: a vote of runs {', '.join(map(str, run.members))}")
            return Text(f"finished {run.epochs_done} epochs in {duration(run.duration)}")
        if run.status == "interrupted":
            return Text(f"interrupted after epoch {run.epochs_done}/{run.epochs_planned}: press r to resume",
                        style="yellow")
        return Text(shown(f"{run.status}: {run.error or 'no reason recorded'}"), style="bold red")

    @staticmethod
    def _results(run: Run) -> Text:
        if run.best_val is None and run.test_at_best is None:
            return Text("best validation — · test at best —", style="dim")
        text = Text()
        if run.best_val is not None:
            text.append("best validation ")
            text.append(f"{run.best_val:.2f}%", style="bold")
            text.append(f" (epoch {run.best_epoch}) · ")
        text.append("test at best " if run.kind == "train" else "test ")
        text.append(f"{run.test_at_best:.2f}%" if run.test_at_best is not None else "—", style="bold")
        if run.book_figure is not None:
            text.append(f" · book {run.book_figure:.2f}%")
            if run.test_at_best is not None:
                text.append(f" ({run.test_at_best - run.book_figure:+.2f})")
        return text
