"""The `convlab` command. With no arguments it opens the Textual lab; each
subcommand works headless, for a terminal reached over SSH.

Every error a user can cause ends in one line on stderr and exit status 2.
torch is imported only by the commands that train, so `convlab --help`,
`presets`, `runs` and `show` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import sys
from typing import Any, Callable

from convlab.errors import UserError
from convlab.text import printable, table_lines

EPILOG = """\
examples:
  convlab                               open the lab (full-screen)
  convlab presets                       the chapter's networks
  convlab run relu --epochs 1 --train-limit 2000
  convlab run my-net.toml --repeats 3 --seed 1
  convlab run --resume 7                continue an interrupted run
  convlab runs                          what the store holds
  convlab show 7                        one run: config, curve, filters, mistakes

environment: CONVLAB_STORE (the run store, default ./convlab.sqlite),
CONVLAB_DATA (the MNIST folder, default data/mnist of this repository)."""


def _common(parser: argparse.ArgumentParser, data: bool = False) -> None:
    parser.add_argument("--store", metavar="PATH", help="the run store (default: $CONVLAB_STORE or ./convlab.sqlite)")
    if data:
        parser.add_argument("--data-dir", metavar="DIR", help="the MNIST folder (default: $CONVLAB_DATA or data/mnist)")


class OneLineParser(argparse.ArgumentParser):
    """A bad option is one line and exit 2, like every other user error."""

    def error(self, message: str):
        print(f"convlab: {printable(self.prog)}: {printable(message)}; `{self.prog} --help` lists the options",
              file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="convlab", description="A lab for the convolutional networks of chapter 6 of Nielsen's "
        "Neural Networks and Deep Learning: train them, watch them learn, compare them with the book.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from convlab import __version__

    parser.add_argument("--version", action="version", version=f"convlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("presets", help="list the chapter's presets")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("run", help="train a preset or a TOML file headless, and store the run",
                       description="Train PRESET (a name from `convlab presets` or a TOML file) by the book's "
                       "rules and store every epoch. Ctrl-C or SIGTERM stops it cleanly; --resume continues it.")
    p.add_argument("preset", nargs="?", metavar="PRESET|FILE", help="preset name or path to a .toml file")
    p.add_argument("--resume", metavar="RUN", help="continue run RUN (and the rest of its repeats) from its last finished epoch")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per run (the preset's by default)")
    p.add_argument("--repeats", type=int, metavar="N", help="independent runs with seeds SEED, SEED+1, …")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the first run (random by default, always stored)")
    p.add_argument("--device", metavar="DEV", help="auto (default: cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    p.add_argument("--train-limit", type=int, metavar="N", help="train on the first N training images only (a quick look)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for training (default: torch's, "
                   "usually one per core; 1 is far faster when other work shares the cores)")
    p.add_argument("--json", action="store_true", help="print one JSON event per line instead of text")
    _common(p, data=True)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="list the runs in the store")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest")
    p.add_argument("--preset", metavar="NAME", help="only runs of this preset")
    _common(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="one run: config, curve, filters and mistakes as terminal pictures")
    p.add_argument("run", metavar="RUN", help="run id (from `convlab runs`)")
    p.add_argument("--mistakes", type=int, default=24, metavar="N", help="how many misclassified digits to show (default 24)")
    _common(p)
    p.set_defaults(func=cmd_show)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub) -> None:
    """Commands that live in their own modules (compare, export, …)."""
    try:
        from convlab import cli_report
    except ImportError:
        return
    cli_report.add_commands(sub, _common)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from convlab.tui.app import main as tui_main

            return tui_main(store=os.environ.get("CONVLAB_STORE"))
        return args.func(args) or 0
    except UserError as exc:
        print(f"convlab: {printable(str(exc))}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # a store damaged after it opened: reads stop, nothing is written
        print(f"convlab: the store is damaged ({exc}); it was not changed; restore a copy or choose another "
              "--store", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


# ---------------------------------------------------------------- commands


def cmd_presets(args) -> int:
    from convlab.format import data_label
    from convlab.spec import list_presets

    rows = [(s.name, s.title, f"{s.book_figure:.2f}" if s.book_figure else "—", f"{s.params:,}",
             data_label(s.train.data)) for s in list_presets()]
    _print_table(("name", "title", "book %", "params", "data"), rows)
    return 0


def _load_spec(args):
    from convlab import spec as specs

    if args.preset is None:
        raise UserError("run: give a PRESET (see `convlab presets`), a .toml file, or --resume RUN")
    spec = specs.load(args.preset)
    changes: dict[str, Any] = {}
    for option, field, low in (("epochs", "epochs", 1), ("repeats", "repeats", 1), ("train_limit", "train_limit", 1)):
        value = getattr(args, option)
        if value is not None:
            if value < low:
                raise UserError(f"--{option.replace('_', '-')} {value}: must be at least {low}")
            changes[field] = specs.check_option(f"--{option.replace('_', '-')}", field, value)
    if "repeats" in changes and spec.train.ensemble > 1:
        raise UserError(f"--repeats: {spec.name} is an ensemble of {spec.train.ensemble}; it trains once")
    return spec.with_train(**changes) if changes else spec


def cmd_run(args) -> int:
    from convlab.runner import Runner, failure_line
    from convlab.spec import check_option
    from convlab.store import Store

    if args.resume and (args.preset or args.epochs or args.repeats or args.seed is not None or args.train_limit):
        raise UserError("--resume RUN continues a run as it was configured; give no preset or other options with it")
    spec = None if args.resume else _load_spec(args)
    if args.seed is not None:
        check_option("--seed", "seed", args.seed)
    _set_threads(args.threads)
    stop = StopFlag()
    store = Store(args.store)
    printer = JsonPrinter() if args.json else TextPrinter(store)
    runner = Runner(store, device=args.device, data_dir=args.data_dir, emit=printer, should_stop=stop)
    work = (lambda: runner.resume(args.resume)) if args.resume else (lambda: runner.start(spec, seed=args.seed))
    return train_guarded(work, stop, printer,
                         interrupted=lambda: f"interrupted; resume with `convlab run --resume {printer.last_run}`",
                         failed=lambda exc: failure_line(printer.last_run, exc))


def train_guarded(work: Callable[[], Any], stop: "StopFlag", printer, interrupted: Callable[[], str],
                  failed: Callable[[Exception], str]) -> int:
    """Run `work` (training) with Ctrl-C / SIGTERM turned into a clean stop.
    Returns the exit status: 0, 128+signal when stopped, 1 when a run failed
    (the store already says so). A UserError passes through (exit 2)."""
    from convlab.engine import Interrupted

    with stop.installed():
        try:
            work()
        except Interrupted:
            printer.close()
            print(f"convlab: {interrupted()}", file=sys.stderr)
            return 128 + stop.signum
        except UserError:
            raise
        except Exception as exc:
            printer.close()
            print(f"convlab: {failed(exc)}", file=sys.stderr)
            return 1
        finally:
            printer.close()
    return 0


def _set_threads(threads: int | None) -> None:
    from convlab.spec import check_option

    if threads is None:
        return
    check_option("--threads", "threads", threads)
    import torch

    torch.set_num_threads(threads)


def cmd_runs(args) -> int:
    from convlab.format import pct, when
    from convlab.store import Store

    store = Store(args.store)
    store.mark_stale()
    runs = store.runs(limit=args.last, preset=args.preset)
    if not runs:
        print(f"no runs in {store.path}; start one with `convlab run PRESET`")
        return 0
    rows = [(str(r.id), r.status, r.preset + ("" if r.kind == "train" else " (ensemble)"),
             f"{r.epochs_done}/{r.epochs_planned}" if r.kind == "train" else f"{len(r.members)} nets",
             pct(r.best_val), pct(r.test_at_best), pct(r.book_figure), r.device or "—", when(r.started))
            for r in runs]
    _print_table(("run", "status", "preset", "epochs", "best val", "test@best", "book", "device", "started"), rows)
    return 0


def cmd_show(args) -> int:
    from convlab.show import show_run
    from convlab.store import Store

    store = Store(args.store)
    store.mark_stale()
    show_run(store, store.run(args.run), mistakes=args.mistakes)
    return 0


# ---------------------------------------------------------------- helpers


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print("\n".join(table_lines([header, *rows])))


class StopFlag:
    """SIGINT / SIGTERM ask the engine to stop before its next mini-batch."""

    def __init__(self):
        self.signum = 0

    def __call__(self) -> bool:
        return self.signum != 0

    def _handle(self, signum, frame) -> None:
        if self.signum:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.signum = signum

    @contextlib.contextmanager
    def installed(self):
        old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


class JsonPrinter:
    """One JSON object per event, per line, flushed: for scripts and the TUI."""

    SKIP = {"filters", "checkpoint", "predictions"}
    last_run: int | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        import json

        self.last_run = event.get("run", self.last_run)
        print(json.dumps({k: v for k, v in event.items() if k not in self.SKIP}), flush=True)

    def close(self) -> None:
        pass


class TextPrinter:
    """Human output: a progress bar on a terminal (plain lines otherwise), a
    line per epoch, and a summary beside the book's figure."""

    def __init__(self, store):
        from convlab.progress import EpochProgress

        self.store = store
        self.bar = EpochProgress(sys.stdout.isatty())
        self.last_run: int | None = None
        self.handlers: dict[str, Callable[[dict], None]] = {
            "group": self.group, "started": self.started, "progress": self.bar.update,
            "epoch": self.epoch, "finished": self.finished, "ensemble": self.ensemble,
            "summary": self.summary, "interrupted": lambda e: None, "failed": self.failed,
            "diverged": lambda e: None,  # the command's last line says it
        }

    def __call__(self, event: dict[str, Any]) -> None:
        self.last_run = event.get("run", self.last_run)
        self.handlers[event["event"]](event)

    def close(self) -> None:
        self.bar.stop()

    def say(self, text: str) -> None:
        self.bar.print(printable(text))  # preset names are the user's

    def group(self, e: dict) -> None:
        self.say(f"{e['preset']}: {e['members']} {'member' if e['ensemble'] > 1 else 'run'}"
                 f"{'s' if e['members'] > 1 else ''} on {e['device']} (group {e['group']})")

    def started(self, e: dict) -> None:
        self.epochs = e["epochs"]
        resumed = f", resumed after epoch {e['resumed_from']}" if e["resumed_from"] else ""
        self.say(f"run {e['run']}: seed {e['seed']}, {e['images']:,} training images in {e['batches']:,} "
                 f"mini-batches, {e['epochs']} epochs{resumed}")

    def epoch(self, e: dict) -> None:
        self.bar.stop()
        test = "" if e["test_acc"] is None else "  (new best)"
        self.say(f"  epoch {e['epoch']:>3}/{self.epochs}  loss {e['train_loss']:.4f}  validation {e['val_acc']:.2f}%"
                 f"  best {e['best_val']:.2f}% (epoch {e['best_epoch']})  test at best {e['test_at_best']:.2f}%"
                 f"  {e['seconds']:.1f}s{test}")

    def finished(self, e: dict) -> None:
        early = ", stopped early" if e["stopped_early"] else ""
        self.say(f"run {e['run']} finished: best validation {e['best_val']:.2f}% at epoch {e['best_epoch']}, "
                 f"test at best {e['test_at_best']:.2f}% ({e['mistakes']} test digits wrong){early}")

    def ensemble(self, e: dict) -> None:
        self.say(f"ensemble of {len(e['members'])} (run {e['run']}): {e['accuracy']:.2f}% "
                 f"({e['mistakes']} of 10,000 test digits wrong)")

    def failed(self, e: dict) -> None:
        self.say(f"run {e['run']} failed: {e['error']}")

    def summary(self, e: dict) -> None:
        for line in summary_lines(e, self.store):
            self.say(line)


def summary_lines(e: dict, store) -> list[str]:
    """The result of a group beside the book's figure."""
    book = e["book_figure"]
    lines = [f"── {e['preset']}: summary " + "─" * 40]
    if e["test_at_best"] is not None:
        n = len(e["runs"])
        what = f"best of {n} by validation" if n > 1 else "test accuracy at the best validation epoch"
        lines.append(f"  {what}: run {e['best_run']}, validation {e['best_val']:.2f}%, test {e['test_at_best']:.2f}%"
                     + _versus(e["test_at_best"], book, e["ensemble_run"] is None))
        if n > 1:
            lines.append(f"  test at best over {n} runs: {e['test_mean']:.2f} ± {e['test_sd']:.2f}% (mean ± sd)")
    if e["ensemble_run"] is not None:
        lines.append(f"  ensemble vote (run {e['ensemble_run']}): {e['ensemble_accuracy']:.2f}%"
                     + _versus(e["ensemble_accuracy"], book, True))
    lines.append(f"  stored in {store.path}; `convlab show {e['ensemble_run'] or e['best_run']}` for the details")
    return lines


def _versus(value: float, book: float | None, applies: bool) -> str:
    if book is None or not applies:
        return ""
    return f"  |  book {book:.2f}% ({value - book:+.2f})"
