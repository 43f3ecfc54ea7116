"""Progress within an epoch for `convlab run`: a live bar on a terminal, a
plain line at each quarter otherwise (logs, pipes, `nohup`)."""

from __future__ import annotations

QUARTERS = (0.25, 0.5, 0.75)


class EpochProgress:
    def __init__(self, tty: bool):
        self.tty = tty
        self.live = None  # rich Progress while an epoch runs on a terminal
        self.task = None
        self.next_quarter = 0

    def update(self, e) -> None:
        """A progress event (convlab.runs.events.Progress)."""
        if self.tty:
            self._bar(e)
            return
        done = e.batch / e.batches
        if self.next_quarter < len(QUARTERS) and done >= QUARTERS[self.next_quarter] and done < 1:
            while self.next_quarter < len(QUARTERS) and done >= QUARTERS[self.next_quarter]:
                self.next_quarter += 1
            print(
                f"    epoch {e.epoch}: {done:4.0%}  {e.batch:,}/{e.batches:,} mini-batches  "
                f"{e.images_per_s:,.0f} images/s  {e.seconds_left or 0:.0f}s left",
                flush=True,
            )

    def _bar(self, e) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if self.live is None:
            self.live = Progress(
                TextColumn("    epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} images/s"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.live.start()
            self.task = self.live.add_task("epoch", total=e.batches, epoch=e.epoch, rate="—")
        self.live.update(self.task, completed=e.batch, epoch=e.epoch, rate=f"{e.images_per_s:,.0f}")

    def print(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, highlight=False, markup=False)
        else:
            print(text, flush=True)

    def stop(self) -> None:
        """End the current epoch's bar (or the quarter counter)."""
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.next_quarter = 0
