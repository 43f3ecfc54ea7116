"""`convlab ensemble`: vote with finished runs' stored test predictions."""

from __future__ import annotations

from convlab.cli.options import common


def add_ensemble(sub) -> None:
    p = sub.add_parser(
        "ensemble",
        help="vote with finished runs' test predictions; stored as a run",
        description="Plurality vote of the members' stored test predictions (ties go to the "
        "smallest digit), as the book's ensemble; the vote is stored as a run of its own.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more finished training runs")
    p.add_argument(
        "--mistakes", type=int, default=40, metavar="N", help="how many misclassified digits to show (default 40)"
    )
    common(p, data=True)
    p.set_defaults(func=cmd_ensemble)


def cmd_ensemble(args) -> int:
    from convlab.data import mnist as mnist_data
    from convlab.runs.ensemble import build_ensemble, check_members
    from convlab.store import Store
    from convlab.term.show import show_run

    store = Store(args.store)
    store.mark_stale()
    check_members(store, args.runs)  # before the seconds it takes to read MNIST
    test = mnist_data.load_mnist(args.data_dir).test
    run = build_ensemble(store, args.runs, test)
    wrong = len(store.mistakes(run.id))
    book = f"; the book's ensemble {run.book_figure:.2f}%" if run.book_figure is not None else ""
    print(
        f"ensemble of runs {', '.join(map(str, run.members))} (stored as run {run.id}): "
        f"{run.test_at_best:.2f}%, {wrong:,} of {len(test):,} test digits wrong{book}\n"
    )
    show_run(store, run, mistakes=args.mistakes)
    return 0
