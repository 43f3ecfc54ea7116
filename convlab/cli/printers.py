"""How the commands print: tables, and a run's events as text or as JSON lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence

from rich.cells import cell_len

from convlab.runs import events
from convlab.term.format import counted
from convlab.term.text import IN_LINE_WIDTH, PRINTED_CELL_WIDTH, printable, shown


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], file=None) -> None:
    """Left-aligned columns two spaces apart, trailing blanks trimmed; every
    cell shown safely (control characters escaped) and cut to PRINTED_CELL_WIDTH
    with an ellipsis, so a 100,000-character name pads nothing."""
    cells = [[shown(str(x), PRINTED_CELL_WIDTH) for x in row] for row in (header, *rows)]
    widths = [max(map(cell_len, col)) for col in zip(*cells)]  # terminal cells: 実験 takes four
    for row in cells:
        print("  ".join(c + " " * (w - cell_len(c)) for c, w in zip(row, widths)).rstrip(), file=file)


class JsonPrinter:
    """One JSON object per event, per line, flushed: for scripts and the lab
    (the fields are documented in docs/guide/events.md and convlab/runs/events.py)."""

    last_run: int | None = None

    def __call__(self, event: events.Event) -> None:
        self.last_run = getattr(event, "run", None) or self.last_run
        print(json.dumps(event.to_dict()), flush=True)

    def close(self) -> None:
        pass


class TextPrinter:
    """Human output: a progress bar on a terminal (plain lines otherwise), a
    line per epoch, and a summary beside the book's figure."""

    def __init__(self, store):
        from convlab.term.progress import EpochProgress

        self.store = store
        self.bar = EpochProgress(sys.stdout.isatty())
        self.last_run: int | None = None
        # the runs training now and their planned epochs: batched members, or several
        # presets at once (reproduce, sweeps), interleave their lines
        self.open_runs: dict[int, int] = {}
        self.handlers: dict[type, Callable] = {
            events.Group: self.group,
            events.Started: self.started,
            events.Progress: self.bar.update,
            events.Epoch: self.epoch,
            events.Finished: self.finished,
            events.Ensemble: self.ensemble,
            events.Summary: self.summary,
            events.Interrupted: lambda e: None,
            events.Pruned: self.pruned,
            events.Failed: self.failed,
            events.RunWarning: lambda e: self.say(f"warning: {e.message}"),
            events.Diverged: lambda e: None,  # the command's last line says it
        }

    def __call__(self, event: events.Event) -> None:
        self.last_run = getattr(event, "run", None) or self.last_run
        self.handlers[type(event)](event)

    def close(self) -> None:
        self.bar.stop()

    def say(self, text: str) -> None:
        self.bar.print(printable(text))  # preset names are the user's

    def group(self, e: events.Group) -> None:
        self.say(
            f"{shown(e.preset, IN_LINE_WIDTH)}: {e.members} {'member' if e.ensemble > 1 else 'run'}"
            f"{'s' if e.members > 1 else ''} on {e.device} (group {e.group})"
        )

    def started(self, e: events.Started) -> None:
        self.open_runs[e.run] = e.epochs
        resumed = f", resumed after epoch {e.resumed_from}" if e.resumed_from else ""
        self.say(
            f"run {e.run}: seed {e.seed}, {e.images:,} training images in {e.batches:,} "
            f"mini-batches, {counted(e.epochs, 'epoch')}{resumed}, {e.path}"
        )

    def epoch(self, e: events.Epoch) -> None:
        self.bar.stop()
        test = "" if e.test_acc is None else "  (new best)"
        who = f"run {e.run} " if len(self.open_runs) > 1 else ""
        val_loss = "" if e.val_loss is None else f" (loss {e.val_loss:.4f})"
        planned = self.open_runs.get(e.run, "?")
        self.say(
            f"  {who}epoch {e.epoch:>3}/{planned}  loss {e.train_loss:.4f}  validation {e.val_acc:.2f}%"
            f"{val_loss}  best {e.best_val:.2f}% (epoch {e.best_epoch})  test at best {e.test_at_best:.2f}%"
            f"  {e.seconds:.1f}s{test}"
        )

    def finished(self, e: events.Finished) -> None:
        self.open_runs.pop(e.run, None)
        early = ", stopped early" if e.stopped_early else ""
        self.say(
            f"run {e.run} finished: best validation {e.best_val:.2f}% at epoch {e.best_epoch}, "
            f"test at best {e.test_at_best:.2f}% ({e.mistakes} test digits wrong){early}"
        )

    def pruned(self, e: events.Pruned) -> None:
        self.open_runs.pop(e.run, None)
        self.say(f"run {e.run} pruned after epoch {e.epoch}: its search's pruner found it behind the others")

    def ensemble(self, e: events.Ensemble) -> None:
        self.say(
            f"ensemble of {len(e.members)} (run {e.run}): {e.accuracy:.2f}% ({e.mistakes} of 10,000 test digits wrong)"
        )

    def failed(self, e: events.Failed) -> None:
        self.say(f"run {e.run} failed: {e.error}")

    def summary(self, e: events.Summary) -> None:
        for line in summary_lines(e, self.store):
            self.say(line)


def summary_lines(e: events.Summary, store) -> list[str]:
    """The result of a group beside the book's figure."""
    book = e.book_figure
    lines = [f"── {shown(e.preset, IN_LINE_WIDTH)}: summary " + "─" * 40]
    if e.test_at_best is not None:
        n = len(e.runs)
        what = f"best of {n} by validation" if n > 1 else "test accuracy at the best validation epoch"
        lines.append(
            f"  {what}: run {e.best_run}, validation {e.best_val:.2f}%, test {e.test_at_best:.2f}%"
            + _versus(e.test_at_best, book, e.ensemble_run is None)
        )
        if n > 1:
            lines.append(f"  test at best over {n} runs: {e.test_mean:.2f} ± {e.test_sd:.2f}% (mean ± sd)")
        if book is not None and e.best_run is not None:
            lines += shortened_lines(store, e.best_run, book)
    if e.ensemble_run is not None:
        lines.append(
            f"  ensemble vote (run {e.ensemble_run}): {e.ensemble_accuracy:.2f}%"
            + _versus(e.ensemble_accuracy, book, True)
        )
    lines.append(f"  stored in {store.path}; `convlab show {e.ensemble_run or e.best_run}` for the details")
    return lines


def shortened_lines(store, run_id: int, book: float) -> list[str]:
    """A word when the run was shorter than its preset's schedule, which the book's figure needs."""
    from convlab.config.spec import load
    from convlab.errors import UserError

    run = store.run(run_id)
    try:
        preset = load(run.config.get("source") or run.preset)
    except (UserError, OSError):  # the preset file is gone or changed: nothing to set it beside
        return []
    spec = run.spec
    if spec.train.epochs == preset.train.epochs and spec.train_images == preset.train_images:
        return []
    return [
        f"  not comparable: the book's {book:.2f}% needs the full schedule, "
        f"{counted(preset.train.epochs, 'epoch')} of {preset.train_images:,} images; "
        f"this run had {counted(spec.train.epochs, 'epoch')} of {spec.train_images:,}"
    ]


def _versus(value: float, book: float | None, applies: bool) -> str:
    if book is None or not applies:
        return ""
    return f"  |  book {book:.2f}% ({value - book:+.2f})"
