"""`convlab presets`, `runs` and `show`: what is there, without torch."""

from __future__ import annotations

import sys
from pathlib import Path

from convlab.cli.options import common
from convlab.cli.printers import print_table
from convlab.term.text import printable


def add_presets(sub) -> None:
    p = sub.add_parser("presets", help="list the chapter's presets and yours")
    p.add_argument("--names", action="store_true", help="only the names, one a line (for scripts and completion)")
    p.set_defaults(func=cmd_presets)


def add_runs(sub) -> None:
    p = sub.add_parser("runs", help="list the runs in the store")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest")
    p.add_argument("--preset", metavar="NAME", help="only runs of this preset")
    p.add_argument("--tag", metavar="TAG", help="only runs with this tag (`convlab tag`)")
    p.add_argument("--ids", action="store_true", help="only the run ids, one a line (for scripts and completion)")
    common(p)
    p.set_defaults(func=cmd_runs)


def add_show(sub) -> None:
    p = sub.add_parser("show", help="one run: config, curve, filters and mistakes as terminal pictures")
    p.add_argument("run", metavar="RUN", help="run id (from `convlab runs`)")
    p.add_argument(
        "--mistakes", type=int, default=24, metavar="N", help="how many misclassified digits to show (default 24)"
    )
    common(p)
    p.set_defaults(func=cmd_show)


def cmd_presets(args) -> int:
    from convlab.config.paths import presets_dir, shipped_presets_dir
    from convlab.config.spec import scan_presets
    from convlab.term.format import data_label

    presets, broken = scan_presets()
    for line in broken:  # the others are listed all the same
        print(f"convlab: {printable(line)}", file=sys.stderr)
    if args.names:
        print("\n".join(s.name for s in presets))
        return 0
    shipped = shipped_presets_dir().resolve()
    rows = [
        (
            s.name,
            s.title,
            f"{s.book_figure:.2f}" if s.book_figure else "—",
            f"{s.params:,}",
            data_label(s.train.data),
            "shipped" if Path(s.source).resolve().parent == shipped else "user",
        )
        for s in presets
    ]
    print_table(("name", "title", "book %", "params", "data", "from"), rows)
    print(
        f"your presets: {presets_dir()} (Save-as in the lab writes there; CONVLAB_PRESETS or a ./presets "
        "folder to change it)"
    )
    return 0


def swept_cells(store, runs) -> tuple[dict[int, list[str]], list[str]]:
    """Each run's cells for the fields swept among `runs` (blank outside a sweep), and the fields."""
    from convlab.term.format import swept_value

    by_group = store.swept_fields()
    fields = {r.id: by_group.get(r.group_id, {}) for r in runs}
    names = list(dict.fromkeys(name for f in fields.values() for name in f))
    return {r: [swept_value(f[n]) if n in f else "" for n in names] for r, f in fields.items()}, names


def cmd_runs(args) -> int:
    from convlab.cli.manage import print_ids, size_line
    from convlab.store import Store
    from convlab.term.format import labels, pct, swept_header, when

    if args.ids:
        return print_ids(args)
    store = Store(args.store)
    store.mark_stale()
    runs = store.runs(limit=args.last, preset=args.preset, tag=args.tag, unreadable=True)
    if not runs:
        print(f"no runs in {store.path}; start one with `convlab run PRESET`")
        return 0
    rows = [
        (
            str(r.id),
            r.status,
            r.preset + ("" if r.kind == "train" else " (ensemble)"),
            f"{r.epochs_done}/{r.epochs_planned}" if r.kind == "train" else f"{len(r.members)} nets",
            pct(r.best_val),
            pct(r.test_at_best),
            pct(r.book_figure),
            r.device or "—",
            when(r.started),
            labels(r.tags, r.note),
        )
        if not r.unreadable
        else (str(r.id), r.status, r.preset, "—", "—", "—", "—", "—", "—", f"{r.error} (rm {r.id} removes it)")
        for r in runs
    ]
    swept, names = swept_cells(store, runs)
    rows = [(*row[:3], *swept[r.id], *row[3:]) for r, row in zip(runs, rows)]
    print_table(
        (
            "run",
            "status",
            "preset",
            *map(swept_header, names),
            "epochs",
            "best val",
            "test@best",
            "book",
            "device",
            "started",
            "tags, note" if any(row[-1] for row in rows) else "",
        ),
        rows,
    )
    print(size_line(store))
    return 0


def cmd_show(args) -> int:
    from convlab.store import Store
    from convlab.term.show import show_run

    store = Store(args.store)
    store.mark_stale()
    show_run(store, store.run(args.run), mistakes=args.mistakes)
    return 0
