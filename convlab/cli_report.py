"""The commands that compare stored runs and show them to others:
`compare`, `ensemble`, `export` and `reproduce`. `convlab.cli` adds them
through `add_commands`."""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from convlab.text import shown

SELECTION_HELP = ("RUN ids (from `convlab runs`), every run of --preset NAME, or the whole store; "
                  "a group of repeats is one row (best of N), an ensemble vote one row")


def add_commands(sub, common) -> None:
    from convlab.report import COLUMN_KEYS

    p = sub.add_parser("compare", help="compare runs side by side: table, curves, config differences",
                       description="One row per run, per group of repeats or per ensemble vote, beside the "
                       "book's figure. " + SELECTION_HELP + ".")
    _selection(p, COLUMN_KEYS)
    p.add_argument("--no-curves", action="store_true", help="leave out the overlaid validation curves")
    common(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("ensemble", help="vote with finished runs' test predictions; stored as a run",
                       description="Plurality vote of the members' stored test predictions (ties go to the "
                       "smallest digit), as the book's ensemble; the vote is stored as a run of its own.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more finished training runs")
    p.add_argument("--mistakes", type=int, default=40, metavar="N",
                   help="how many misclassified digits to show (default 40)")
    common(p, data=True)
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("export", help="write a comparison as CSV, JSON, Markdown or a self-contained HTML report",
                       description="csv and json hold every per-epoch figure of every selected run; md is the "
                       "comparison table; html is one file with the table, curves, filters and misclassified "
                       "digits that opens with no network. " + SELECTION_HELP + ".")
    _selection(p, COLUMN_KEYS)
    _output(p)
    common(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("reproduce", help="run every chapter-6 preset, then the book-versus-convlab table and an export",
                       description="Runs the presets in the chapter's order with their stored schedules "
                       "(--quick: minutes on a CPU). Interrupted, the same command resumes where it stopped.")
    p.add_argument("--quick", action="store_true", help="1 epoch on 2,000 training images, 2 repeats, "
                   "an ensemble of 3")
    p.add_argument("--preset", action="append", metavar="NAME", help="only this preset (repeatable)")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per run instead of the schedule's")
    p.add_argument("--train-limit", type=int, metavar="N", help="train on the first N training images only")
    p.add_argument("--seed", type=int, metavar="N", help="base seed of a new reproduction (random by default)")
    p.add_argument("--device", metavar="DEV", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--new", action="store_true", help="start afresh instead of resuming an unfinished one")
    p.add_argument("--json", action="store_true", help="print one JSON event per line while training")
    _output(p, default="reproduce.html")
    common(p, data=True)
    p.set_defaults(func=cmd_reproduce)


def _selection(p: argparse.ArgumentParser, columns: list[str]) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN", help="run ids (default: every run)")
    p.add_argument("--preset", action="append", metavar="NAME", help="every run of this preset (repeatable)")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest rows")
    p.add_argument("--sort", default="row", metavar="COLUMN",
                   help=f"sort by {', '.join(columns)} (default: row, the chapter's order)")
    p.add_argument("--reverse", action="store_true", help="sort in descending order")


def _output(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument("--format", metavar="FORMAT", help="csv, json, md or html (default: from -o's suffix)")
    p.add_argument("-o", "--output", metavar="PATH", default=default,
                   help=f"the file to write ('-' for stdout; default: {default or 'stdout'})")


def _rows(store, args):
    from convlab import report

    return report.compare(store, args.runs, args.preset, args.last, args.sort, args.reverse)


# ---------------------------------------------------------------- compare


def cmd_compare(args) -> int:
    from convlab import report
    from convlab.store import Store

    store = Store(args.store)
    store.mark_stale()
    rows = _rows(store, args)
    if not rows:
        print(f"no runs in {store.path}; start one with `convlab run PRESET`")
        return 0
    print_table(rows)
    if not args.no_curves:
        text = curves_text(store, rows, width=min(shutil.get_terminal_size((100, 24)).columns, 110))
        if text:
            print()
            print(text)
    if len(rows) == 2:
        print("\nconfig differences")
        for line in report.diff_lines(*rows):
            print("  " + shown(line, 200))
    return 0


def print_table(rows) -> None:
    from convlab.report import COLUMNS, cells

    from convlab.text import table_lines

    print("\n".join(table_lines([[c.header for c in COLUMNS]] + [cells(r) for r in rows])))


def curves_text(store, rows, width: int = 100, height: int = 18) -> str:
    """The rows' validation curves overlaid, as a plotext text plot."""
    import plotext as plt

    from convlab.export import curve_series

    series = curve_series(store, rows)
    if not series:
        return ""
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    draw_series(plt, series)
    text = plt.build()
    return text if sys.stdout.isatty() else plt.uncolorize(text)


def draw_series(plt, series) -> None:
    """Validation curves on a plotext figure (the module, or the TUI's PlotextPlot.plt)."""
    for label, points in series:
        xs, ys = [x for x, _ in points], [y for _, y in points]
        if len(points) == 1:  # one epoch: a braille dot would hardly show
            plt.scatter(xs, ys, label=label, marker="●")
        else:
            plt.plot(xs, ys, label=label, marker="braille")
    epochs = sorted({x for _, points in series for x, _ in points})
    if epochs:
        plt.xticks(epochs if len(epochs) <= 12 else epochs[::-(-len(epochs) // 12)])
    plt.title("validation accuracy (%)")
    plt.xlabel("epoch")


# ---------------------------------------------------------------- ensemble


def cmd_ensemble(args) -> int:
    from convlab import data as mnist_data
    from convlab.report import build_ensemble, check_members
    from convlab.show import show_run
    from convlab.store import Store

    store = Store(args.store)
    store.mark_stale()
    check_members(store, args.runs)  # before the seconds it takes to read MNIST
    test = mnist_data.load_mnist(args.data_dir).test
    run = build_ensemble(store, args.runs, test)
    wrong = len(store.mistakes(run.id))
    book = f"; the book's ensemble {run.book_figure:.2f}%" if run.book_figure is not None else ""
    print(f"ensemble of runs {', '.join(map(str, run.members))} (stored as run {run.id}): "
          f"{run.test_at_best:.2f}%, {wrong:,} of {len(test):,} test digits wrong{book}\n")
    show_run(store, run, mistakes=args.mistakes)
    return 0


# ---------------------------------------------------------------- export


def cmd_export(args) -> int:
    from convlab import export
    from convlab.store import Store

    fmt = export.format_for(args.output, args.format)
    store = Store(args.store)
    store.mark_stale()
    rows = _rows(store, args)
    export.write(export.render_as(store, rows, fmt), args.output)
    if args.output not in (None, "-"):
        print(f"wrote {args.output} ({fmt}, {len(rows)} rows)", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- reproduce


def cmd_reproduce(args) -> int:
    from convlab import export, reproduce
    from convlab.cli import JsonPrinter, StopFlag, TextPrinter, train_guarded
    from convlab.export import to_markdown
    from convlab.store import Store

    fmt = export.format_for(args.output, args.format)  # a bad -o fails now, not after hours of training
    specs = reproduce.plan(args.preset, args.quick, args.epochs, args.train_limit)
    store = Store(args.store)
    printer = JsonPrinter() if args.json else TextPrinter(store)
    say = (lambda text: None) if args.json else printer.say
    stop = StopFlag()
    started = time.monotonic()
    done: list = []  # the reproduction, once it ran to the end
    status = train_guarded(
        lambda: done.append(reproduce.run(store, specs, quick=args.quick, seed=args.seed, new=args.new,
                                          device=args.device, data_dir=args.data_dir, emit=printer, say=say,
                                          should_stop=stop)),
        stop, printer,
        interrupted=lambda: "interrupted; run the same `convlab reproduce` command again to resume",
        failed=lambda exc: (f"reproduction stopped, a run failed: {type(exc).__name__}: {exc}; "
                            "run the same `convlab reproduce` command again to retry it"))
    if status:
        return status
    rep = done[0]
    rows = rep.rows()
    took = time.monotonic() - started
    out = sys.stderr if args.json else sys.stdout
    print(f"\nbook versus convlab (reproduction {rep.id}{', quick' if args.quick else ''}; "
          f"this session {took:.0f}s)\n", file=out)
    print(to_markdown(rows), file=out)
    export.write(export.render_as(store, rows, fmt), args.output)
    if args.output not in (None, "-"):
        print(f"wrote {args.output} ({fmt})", file=out)
    return 0
