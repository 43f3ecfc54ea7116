"""`convlab sweep`: a preset over a grid of field values (sweep.py), and the
sweep tables that `compare --sweep` and `export --sweep` show."""

from __future__ import annotations

import sys
import time

from convlab.cli import options
from convlab.cli.printers import JsonPrinter, TextPrinter, print_table
from convlab.cli.training import StopFlag, schedule, train_guarded, worker_options
from convlab.errors import UserError


def add_sweep(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="train a preset over a grid of values: --set train.lmbda=0,0.01,0.1",
        description="Every combination of the --set values (or of a sweep file's [set] table) "
        "is a point, trained as a group of runs; all points' runs go to the scheduler at once. "
        "Every point starts from the same seed, so the points differ only in the swept fields. "
        "Interrupted, `convlab sweep --resume SWEEP` continues it.",
    )
    p.add_argument(
        "preset",
        nargs="?",
        metavar="PRESET|FILE",
        help="preset name or file, or a sweep file or the name of a shipped one (relu-lambda)",
    )
    p.add_argument(
        "--set",
        action="append",
        dest="axes",
        default=[],
        metavar="FIELD=V1,V2,…",
        help="an axis of the grid: train.FIELD or layers[i].FIELD and its values (repeatable)",
    )
    p.add_argument("--repeats", type=int, metavar="N", help="runs per point, seeds SEED, SEED+1, … (default 1)")
    p.add_argument("--resume", metavar="SWEEP", help="continue sweep SWEEP (its unfinished points)")
    p.add_argument("--list", action="store_true", help="the sweeps in the store")
    options.training(p)
    p.set_defaults(func=cmd_sweep)


def sweep_options(p) -> None:
    """--sweep and --pivot for compare and export."""
    p.add_argument(
        "--sweep", metavar="SWEEP", help="the table of sweep SWEEP: one row per point, swept fields as columns"
    )
    p.add_argument(
        "--pivot", metavar="FIELD", help="with --sweep: one row per value of FIELD (best test %%, mean ± sd)"
    )


def cmd_sweep(args) -> int:
    from convlab.runs import sweep
    from convlab.runs.runner import Runner
    from convlab.store import Store

    if args.list:
        return _list(Store(args.store))
    definition = None if args.resume else _definition(args)
    changes = _changes(args)
    if args.resume and (definition or changes or args.repeats or args.seed is not None):
        raise UserError("--resume SWEEP continues a sweep as it was defined; give no preset or other options with it")
    if definition is not None:
        sweep.points(definition, changes)  # every point validated before anything is stored
    workers = worker_options(args)
    store = Store(args.store)
    printer = JsonPrinter() if args.json else TextPrinter(store)
    stop = StopFlag()
    runner = Runner(store, device=args.device, data_dir=args.data_dir, emit=printer, should_stop=stop, **workers)
    train = (
        (lambda: sweep.resume(store, runner, args.resume))
        if args.resume
        else (lambda: sweep.start(store, runner, definition, changes))
    )
    status, _ = train_and_show(store, args, printer, stop, train, "sweep", lambda: _latest(store, args.resume))
    return status


def train_and_show(store, args, printer, stop, train, noun: str, latest) -> tuple[int, int | None]:
    """Train a sweep or a search (`noun`) until it ends or is stopped, then print its
    table; returns the exit status and the sweep's id (None when it did not end)."""
    done: list[int] = []
    started = time.monotonic()
    unit = "trial" if noun == "search" else "run"
    status = train_guarded(
        lambda: done.append(train()),
        stop,
        printer,
        interrupted=lambda: f"interrupted; resume with `convlab {noun} --resume {latest()}`",
        failed=lambda exc: (
            f"a {unit} of the {noun} failed: {type(exc).__name__}: {exc}; "
            f"`convlab {noun} --resume {latest()}` retries it"
        ),
    )
    if status:
        return status, None
    out = sys.stderr if args.json else sys.stdout
    print(f"\n{noun} {done[0]} ({time.monotonic() - started:.0f}s)", file=out)
    print_sweep(store, done[0], None, out)
    return 0, done[0]


def _definition(args):
    from convlab.runs import sweep

    if args.preset is None:
        raise UserError("sweep: give a PRESET with --set FIELD=V1,V2,…, a sweep file, or --resume SWEEP")
    axes = tuple(sweep.parse_set(text) for text in args.axes)
    path = sweep.sweep_file(args.preset)
    if path is not None:
        base = sweep.load_file(path)
        return sweep.Sweep(
            base.preset, base.axes + axes, args.repeats or base.repeats, base.seed if args.seed is None else args.seed
        )
    return sweep.Sweep(args.preset, axes, args.repeats, args.seed)


def _changes(args) -> dict:
    """Every point's schedule changes; --repeats is checked here, and is the sweep's own (Sweep.repeats)."""
    from convlab.config.spec import schedule_changes

    schedule_changes(repeats=args.repeats)
    return schedule(args)


def _latest(store, resume) -> str:
    if resume:
        return str(resume)
    found = store.sweeps()
    return str(found[0]["id"]) if found else "SWEEP"


def _list(store) -> int:
    from convlab.term.format import when

    found = store.sweeps()
    if not found:
        print(f"no sweeps in {store.path}; start one with `convlab sweep PRESET --set FIELD=V1,V2,…`")
        return 0
    rows = [
        (
            str(s["id"]),
            s["preset"],
            " × ".join(f"{f}({len(v)})" for f, v in s["axes"]) if not s.get("search") else _searched(s),
            s["status"],
            when(s["created"]),
        )
        for s in found
    ]
    print_table(("sweep", "preset", "grid", "status", "created"), rows)
    return 0


def _searched(record) -> str:
    """A search's row in `sweep --list`: its fields and trials (convlab/runs/search.py)."""
    return f"search of {', '.join(f for f, _ in record['axes'])}, {record['search']['trials']} trials"


def print_sweep(store, sweep_id, pivot_field: str | None, out=sys.stdout) -> None:
    from convlab.runs import sweep
    from convlab.term.text import IN_LINE_WIDTH, shown

    record, rows = sweep.table(store, sweep_id)
    if pivot_field:
        rows = sweep.pivot(rows, pivot_field)
    header, body = sweep.cells(rows)
    grid = " × ".join(f"{shown(f, IN_LINE_WIDTH)} ({len(v)})" for f, v in record["axes"])
    if record.get("search"):  # a search (convlab/runs/search.py): its ranges, sampler and pruner
        from convlab.runs.search import describe

        grid = describe(record)
    by = f", by {shown(pivot_field, IN_LINE_WIDTH)}" if pivot_field else ""
    kind = "search" if record.get("search") else "sweep"
    print(f"{kind} {record['id']}: {shown(record['preset'], IN_LINE_WIDTH)}, {grid}{by}", file=out)
    print_table(header, body, file=out)


def export_sweep(store, sweep_id, pivot_field: str | None, fmt: str) -> str:
    """A sweep's table as csv, json, md or html (results/export/sweeps.py)."""
    from convlab.results.export.sweeps import sweep_text

    return sweep_text(store, sweep_id, pivot_field, fmt)
