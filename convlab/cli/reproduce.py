"""`convlab reproduce`: every chapter-6 preset, then the book-versus-convlab
table and an export."""

from __future__ import annotations

import sys
import time

from convlab.cli import options
from convlab.cli.printers import JsonPrinter, TextPrinter
from convlab.cli.training import StopFlag, schedule, train_guarded, worker_options


def add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run every chapter-6 preset, then the book-versus-convlab table and an export",
        description="Runs the presets in the chapter's order with their stored schedules "
        "(--quick: minutes on a CPU); preset i's runs take seeds from SEED + 100·i. "
        "Interrupted, the same command resumes where it stopped.",
    )
    p.add_argument("--quick", action="store_true", help="1 epoch on 2,000 training images, 2 repeats, an ensemble of 3")
    p.add_argument("--preset", action="append", metavar="NAME", help="only this preset (repeatable)")
    p.add_argument("--new", action="store_true", help="start afresh instead of resuming an unfinished one")
    options.output(p, default="reproduce.html")
    options.training(p)
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    from convlab.results import export
    from convlab.results.export.tables import to_markdown
    from convlab.runs import reproduce
    from convlab.store import Store

    fmt = export.format_for(args.output, args.format)  # a bad -o fails now, not after hours of training
    changes = schedule(args)
    specs = reproduce.plan(args.preset, args.quick, changes.get("epochs"), changes.get("train_limit"))
    workers = worker_options(args)
    store = Store(args.store)
    printer = JsonPrinter() if args.json else TextPrinter(store)
    say = (lambda text: None) if args.json else printer.say
    stop = StopFlag()
    started = time.monotonic()
    done: list = []  # the reproduction, once it ran to the end
    status = train_guarded(
        lambda: done.append(
            reproduce.run(
                store,
                specs,
                quick=args.quick,
                seed=args.seed,
                new=args.new,
                device=args.device,
                data_dir=args.data_dir,
                emit=printer,
                say=say,
                should_stop=stop,
                **workers,
            )
        ),
        stop,
        printer,
        interrupted=lambda: "interrupted; run the same `convlab reproduce` command again to resume",
        failed=lambda exc: (
            f"reproduction stopped, a run failed: {type(exc).__name__}: {exc}; "
            "run the same `convlab reproduce` command again to retry it"
        ),
    )
    if status:
        return status
    rep = done[0]
    rows = rep.rows()
    took = time.monotonic() - started
    out = sys.stderr if args.json else sys.stdout
    print(
        f"\nbook versus convlab (reproduction {rep.id}{', quick' if args.quick else ''}; this session {took:.0f}s)\n",
        file=out,
    )
    print(to_markdown(rows), file=out)
    written = export.export_to(store, rows, fmt, args.output)
    if args.output not in (None, "-"):
        print(f"wrote {written}", file=out)
    return 0
