"""`convlab compare` and `convlab export`: stored runs side by side, on the
terminal or as a file."""

from __future__ import annotations

import argparse
import shutil
import sys

from convlab.cli.options import common, output
from convlab.cli.printers import print_table
from convlab.cli.sweep import export_sweep, print_sweep, sweep_options
from convlab.term.text import shown

SELECTION_HELP = (
    "RUN ids (from `convlab runs`), every run of --preset NAME, or the whole store; "
    "a group of repeats is one row (best of N), an ensemble vote one row"
)


def add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare runs side by side: table, curves, config differences",
        description="One row per run, per group of repeats or per ensemble vote, beside the "
        "book's figure. " + SELECTION_HELP + ".",
    )
    _selection(p)
    sweep_options(p)
    p.add_argument("--no-curves", action="store_true", help="leave out the overlaid validation curves")
    common(p)
    p.set_defaults(func=cmd_compare)


def add_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a comparison as CSV, JSON, Markdown, a self-contained HTML report or TensorBoard event files",
        description="csv and json hold every per-epoch figure of every selected run; md is the "
        "comparison table; html is one file with the table, curves, filters and misclassified "
        "digits that opens with no network. " + SELECTION_HELP + ".",
    )
    _selection(p)
    sweep_options(p)
    output(p)
    common(p)
    p.set_defaults(func=cmd_export)


def _selection(p: argparse.ArgumentParser) -> None:
    from convlab.results.report import COLUMN_KEYS

    p.add_argument("runs", nargs="*", metavar="RUN", help="run ids (default: every run)")
    p.add_argument("--preset", action="append", metavar="NAME", help="every run of this preset (repeatable)")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest rows")
    p.add_argument(
        "--sort",
        default="row",
        metavar="COLUMN",
        help=f"sort by {', '.join(COLUMN_KEYS)} (default: row, the chapter's order)",
    )
    p.add_argument("--reverse", action="store_true", help="sort in descending order")


def _rows(store, args):
    from convlab.results import report

    return report.compare(store, args.runs, args.preset, args.last, args.sort, args.reverse)


def cmd_compare(args) -> int:
    from convlab.results import report
    from convlab.store import Store
    from convlab.term.plots import curves_text

    store = Store(args.store)
    store.mark_stale()
    if args.sweep:
        print_sweep(store, args.sweep, args.pivot)
        return 0
    rows = _rows(store, args)
    if not rows:
        print(f"no runs in {store.path}; start one with `convlab run PRESET`")
        return 0
    shown_columns = report.columns(rows)  # a sweep's points: their swept fields as columns
    print_table([c.header for c in shown_columns], [report.cells(r, shown_columns) for r in rows])
    if not args.no_curves:
        text = curves_text(store, rows, width=min(shutil.get_terminal_size((100, 24)).columns, 110))
        if text:
            print()
            print(text)
    device = report.device_lines(store, rows)
    if device:
        print("\ndevice figures (path on device · versions · peak memory · images/s of the last epoch)")
        for line in device:
            print("  " + shown(line, 200))
    if len(rows) == 2:
        print("\nconfig differences")
        for line in report.diff_lines(*rows):  # cut: a name may be 100,000 characters
            print("  " + shown(line, 200))
    return 0


def cmd_export(args) -> int:
    from convlab.results import export
    from convlab.store import Store

    fmt = export.format_for(args.output, args.format)
    store = Store(args.store)
    store.mark_stale()
    if args.sweep:
        export.write(export_sweep(store, args.sweep, args.pivot, fmt), args.output)
        return 0
    written = export.export_to(store, _rows(store, args), fmt, args.output)
    if args.output not in (None, "-"):
        print(f"wrote {written}", file=sys.stderr)
    return 0
