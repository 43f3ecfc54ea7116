"""`convlab show RUN`: one stored run in the terminal: its config, per-epoch
figures and curve, first-layer filters and misclassified test digits."""

from __future__ import annotations

import time

from rich.columns import Columns
from rich.console import Console

from convlab.results.curves import eta_points
from convlab.store import Run, Store
from convlab.term import render
from convlab.term.format import device_figures, labels, last_rate
from convlab.term.plots import eta_text
from convlab.term.text import IN_LINE_WIDTH, NOTE_WIDTH, printable, shown


def _header(run: Run, epochs=()) -> list[str]:
    spec = run.spec
    t = spec.train
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started)) if run.started else "—"
    took = f"{run.duration:.0f}s" if run.duration is not None else "—"
    versions = ", ".join(f"{k} {v}" for k, v in run.versions.items())
    lines = [
        f"run {run.id}  {shown(run.preset, IN_LINE_WIDTH)}: {shown(run.title, IN_LINE_WIDTH)}",
        f"  status {run.status}{' (' + run.error + ')' if run.error and run.status != 'finished' else ''}"
        f"   seed {run.seed}   device {run.device}   started {when}   took {took}",
        f"  layers: {spec.architecture}   ({spec.params:,} parameters)",
        f"  epochs {t.epochs}  η {t.eta:g}  λ {t.lmbda:g}  mini-batch {t.batch_size}  data {t.data}"
        + (f" (first {t.train_limit:,})" if t.train_limit else "")
        + ("  reshuffle" if t.shuffle else "")
        + (f"  patience {t.patience}" if t.patience else "")
        + (f"  η×{t.eta_decay:g} every {t.eta_decay_every}" if t.eta_decay_every else ""),
        f"  versions: {versions}",
    ]
    device = device_figures(run, last_rate(epochs))
    if device:
        lines.append(f"  device: {device}")
    if run.tags or run.note:
        lines.append("  " + shown(labels(run.tags, run.note), NOTE_WIDTH))
    if run.kind == "ensemble":
        lines.append(
            f"  ensemble of runs {', '.join(map(str, run.members))}: plurality vote, ties to the smaller digit"
        )
    if run.best_val is not None:
        lines.append(
            f"  best validation {run.best_val:.2f}% at epoch {run.best_epoch}, "
            f"test at best {run.test_at_best:.2f}%" + _book(run)
        )
    elif run.test_at_best is not None:
        lines.append(f"  test accuracy {run.test_at_best:.2f}%" + _book(run))
    return lines


def _book(run: Run) -> str:
    if run.book_figure is None:
        return "   (the book gives no figure)"
    return f"   book {run.book_figure:.2f}% ({run.test_at_best - run.book_figure:+.2f})"


def show_run(store: Store, run: Run, mistakes: int = 24, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    pictures = console.is_terminal and console.color_system is not None
    epochs = store.epochs(run.id)
    for line in _header(run, epochs):
        console.print(printable(line), markup=False)  # names, titles and errors are the user's
    if epochs:
        rates = any(e.images_per_s for e in epochs)  # none before store version 5
        etas = eta_points(epochs)  # a column and a plot only when a schedule changed η
        console.print(
            "\n  epoch  loss     validation  val. loss  test"
            + ("    images/s" if rates else "")
            + ("  η" if etas else ""),
            markup=False,
        )
        for e in epochs:  # a figure may be missing: none before store version 3, or a damaged row
            loss, val, val_loss, test = (
                "" if v is None else f"{v:.{places}f}"
                for v, places in ((e.train_loss, 4), (e.val_acc, 2), (e.val_loss, 4), (e.test_acc, 2))
            )
            rate = f"  {e.images_per_s:>10,.0f}" if rates and e.images_per_s else " " * 12 * bool(rates and etas)
            eta = f"  {e.eta:g}" if etas and e.eta is not None else ""
            console.print(
                f"  {e.epoch:>5}  {loss:<6}   {val:>6}      {val_loss:>6}     {test:>6}{rate}{eta}", markup=False
            )
        shown_val = [e.val_acc for e in epochs if e.val_acc is not None]
        if len(shown_val) > 1:
            console.print(
                render.curve_text(shown_val, width=min(console.width, 90), reference=run.book_figure),
                markup=False,
                highlight=False,
            )
        if etas:
            console.print(eta_text(etas, width=min(console.width, 90)), markup=False, highlight=False)
    filters = store.filters(run.id)
    if filters is not None:
        console.print(f"\nfirst-layer filters after epoch {epochs[-1].epoch} (darker = larger weight)", markup=False)
        if pictures:
            console.print(render.filter_grid(filters))
        else:
            for row in render.ascii_picture(render.tile(list(render.filter_levels(filters)), 10)):
                console.print(row, markup=False)
    wrong = store.mistakes(run.id)
    if wrong:
        shown = wrong[:mistakes]
        console.print(
            f"\n{len(wrong)} misclassified test digits"
            f"{f', the first {len(shown)}' if len(shown) < len(wrong) else ''} "
            "(true label top right, the network's bottom right)",
            markup=False,
        )
        if pictures:
            console.print(Columns([render.digit_card(m.image, m.label, m.predicted) for m in shown]))
        else:
            _ascii_gallery(console, shown, per_row=max(1, console.width // 58))


def _ascii_gallery(console: Console, shown, per_row: int) -> None:
    cards = [render.ascii_digit_card(m.image, m.label, m.predicted) for m in shown]
    for i in range(0, len(cards), per_row):
        for lines in zip(*cards[i : i + per_row]):
            console.print("  ".join(lines).rstrip(), markup=False)
