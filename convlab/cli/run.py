"""`convlab run`: train a preset or a TOML file headless, and store the run."""

from __future__ import annotations

import argparse

from convlab.cli import options
from convlab.cli.printers import JsonPrinter, TextPrinter
from convlab.cli.training import StopFlag, schedule, train_guarded, worker_options
from convlab.errors import UserError


def add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="train a preset or a TOML file headless, and store the run",
        description="Train PRESET (a name from `convlab presets` or a TOML file) by the book's "
        "rules and store every epoch. Ctrl-C or SIGTERM stops it cleanly; --resume continues it.",
    )
    p.add_argument("preset", nargs="?", metavar="PRESET|FILE", help="preset name or path to a .toml file")
    p.add_argument(
        "--resume", metavar="RUN", help="continue run RUN (and the rest of its repeats) from its last finished epoch"
    )
    p.add_argument("--repeats", type=int, metavar="N", help="independent runs with seeds SEED, SEED+1, …")
    p.add_argument(
        "--batch-members",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train repeats or ensemble members as one batched model (default: on CUDA only)",
    )
    p.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write each run's TensorBoard event files under DIR as it trains (`tensorboard --logdir DIR`)",
    )
    options.training(p)
    p.set_defaults(func=cmd_run)


def _load_spec(args):
    from convlab.config import spec as specs

    if args.preset is None:
        raise UserError("run: give a PRESET (see `convlab presets`), a .toml file, or --resume RUN")
    spec = specs.load(args.preset)
    changes = {**schedule(args), **specs.schedule_changes(repeats=args.repeats)}
    if "repeats" in changes and spec.train.ensemble > 1:
        raise UserError(f"--repeats: {spec.name} is an ensemble of {spec.train.ensemble}; it trains once")
    return spec.with_train(**changes) if changes else spec


def cmd_run(args) -> int:
    from convlab.runs.runner import Runner, failure_line
    from convlab.store import Store

    if args.resume and (args.preset or args.epochs or args.repeats or args.seed is not None or args.train_limit):
        raise UserError("--resume RUN continues a run as it was configured; give no preset or other options with it")
    spec = None if args.resume else _load_spec(args)
    workers = worker_options(args)
    stop = StopFlag()
    store = Store(args.store)
    printer = JsonPrinter() if args.json else TextPrinter(store)
    emit = printer
    if args.tensorboard:
        from convlab.results.export.tensorboard import LiveWriter

        live = LiveWriter(store, args.tensorboard)
        emit = _both(printer, live)
    runner = Runner(
        store,
        device=args.device,
        data_dir=args.data_dir,
        emit=emit,
        should_stop=stop,
        batch_members=args.batch_members,
        **workers,
    )
    work = (lambda: runner.resume(args.resume)) if args.resume else (lambda: runner.start(spec, seed=args.seed))
    try:
        return train_guarded(
            work,
            stop,
            printer,
            interrupted=lambda: f"interrupted; resume with `convlab run --resume {printer.last_run}`",
            failed=lambda exc: failure_line(printer.last_run, exc),
        )
    finally:
        if args.tensorboard:
            live.close()


def _both(printer, live):
    def emit(event) -> None:
        printer(event)
        live(event)

    return emit
