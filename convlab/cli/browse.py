"""`convlab presets`, `runs` and `show`: what is there, without torch."""

from __future__ import annotations

from convlab.cli.options import common
from convlab.cli.printers import print_table


def add_presets(sub) -> None:
    p = sub.add_parser("presets", help="list the chapter's presets")
    p.set_defaults(func=cmd_presets)


def add_runs(sub) -> None:
    p = sub.add_parser("runs", help="list the runs in the store")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest")
    p.add_argument("--preset", metavar="NAME", help="only runs of this preset")
    common(p)
    p.set_defaults(func=cmd_runs)


def add_show(sub) -> None:
    p = sub.add_parser("show", help="one run: config, curve, filters and mistakes as terminal pictures")
    p.add_argument("run", metavar="RUN", help="run id (from `convlab runs`)")
    p.add_argument("--mistakes", type=int, default=24, metavar="N", help="how many misclassified digits to show (default 24)")
    common(p)
    p.set_defaults(func=cmd_show)


def cmd_presets(args) -> int:
    from convlab.format import data_label
    from convlab.spec import list_presets

    rows = [(s.name, s.title, f"{s.book_figure:.2f}" if s.book_figure else "—", f"{s.params:,}",
             data_label(s.train.data)) for s in list_presets()]
    print_table(("name", "title", "book %", "params", "data"), rows)
    return 0


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
    print_table(("run", "status", "preset", "epochs", "best val", "test@best", "book", "device", "started"), rows)
    return 0


def cmd_show(args) -> int:
    from convlab.show import show_run
    from convlab.store import Store

    store = Store(args.store)
    store.mark_stale()
    show_run(store, store.run(args.run), mistakes=args.mistakes)
    return 0
