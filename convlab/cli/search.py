"""`convlab search`: a preset's fields sampled from ranges, bad trials pruned
after an epoch (convlab/runs/search.py); its table is a sweep's (`compare --sweep`)."""

from __future__ import annotations

import sys

from convlab.cli import options
from convlab.cli.printers import JsonPrinter, TextPrinter
from convlab.cli.training import StopFlag, schedule, worker_options
from convlab.errors import UserError


def add_search(sub) -> None:
    p = sub.add_parser(
        "search",
        help="search a preset's fields over ranges, pruning bad trials: --param train.eta=log:0.003..0.3",
        description="Each trial samples every --param from its range (Optuna: random or TPE) and trains "
        "one ordinary run; after each epoch the pruner compares its validation accuracy with the trials "
        "before it and stops it there if it is behind (stored as 'pruned', with the epochs it trained). "
        "--seed is the search's: it fixes the trials' values and every trial's starting weights, so the "
        "same --seed and --workers (trials asked at once) give the same trials. Interrupted, `convlab search --resume SEARCH` continues "
        "it; `compare --sweep SEARCH` shows its table. Needs `pip install 'nndl-convlab[search]'`.",
    )
    p.add_argument("preset", nargs="?", metavar="PRESET|FILE", help="preset name or file, or a search file (.toml)")
    p.add_argument(
        "--param",
        action="append",
        dest="params",
        default=[],
        metavar="FIELD=RANGE",
        help="a searched field: LOW..HIGH (uniform), log:LOW..HIGH (log-uniform), int:LOW..HIGH "
        "(whole numbers) or A,B,C (choices); e.g. train.eta=log:0.003..0.3 (repeatable)",
    )
    p.add_argument("--trials", type=int, metavar="N", help="trials in all (default 20, or the file's)")
    p.add_argument("--sampler", metavar="NAME", help="random, or tpe (Bayesian, the default)")
    p.add_argument(
        "--prune",
        metavar="RULE",
        help="median (default: behind the median of earlier trials at that epoch), "
        "asha (successive halving, rungs at epochs 1, 3, 9, …) or none",
    )
    p.add_argument("--resume", metavar="SEARCH", help="continue search SEARCH with the same trials")
    options.training(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args) -> int:
    from convlab.cli.sweep import train_and_show
    from convlab.runs import search
    from convlab.runs.runner import Runner
    from convlab.store import Store

    definition = None if args.resume else _definition(args)
    changes = schedule(args)
    if args.resume and (definition or changes or args.params or args.trials or args.sampler or args.prune):
        raise UserError("--resume SEARCH continues a search as it was defined; give no preset or other options")
    if args.resume and args.seed is not None:
        raise UserError("--resume SEARCH keeps the search's seed; leave out --seed")
    search.import_optuna()  # missing: one line naming the extra, before anything is stored
    workers = worker_options(args)
    batch = _batch(args, workers)
    if definition is not None:
        search.definition(definition, changes, batch)  # every range validated before anything is stored
    store = Store(args.store)
    printer = JsonPrinter() if args.json else TextPrinter(store)
    say = (lambda text: print(text, file=sys.stderr)) if args.json else printer.say
    stop = StopFlag()
    runner = Runner(store, device=args.device, data_dir=args.data_dir, emit=printer, should_stop=stop, **workers)
    train = (
        (lambda: search.resume(store, runner, args.resume, say))
        if args.resume
        else (lambda: search.start(store, runner, definition, changes, batch, say))
    )
    status, search_id = train_and_show(store, args, printer, stop, train, "search", lambda: _latest(store, args.resume))
    if search_id is not None:
        print(search.best_line(store, search_id), file=sys.stderr if args.json else sys.stdout)
    return status


def _definition(args):
    from convlab.runs import search

    if args.preset is None:
        raise UserError("search: give a PRESET with --param FIELD=RANGE, a search file, or --resume SEARCH")
    params = tuple(search.parse_param(text) for text in args.params)
    path = search.search_file(args.preset)
    base = search.load_file(path) if path is not None else search.Search(args.preset, ())
    given = {"trials": args.trials, "sampler": args.sampler, "prune": args.prune, "seed": args.seed}
    kept = {k: v for k, v in given.items() if v is not None}
    return search.Search(**{**base.__dict__, "params": base.params + params, **kept})


def _batch(args, workers: dict) -> int:
    """Trials asked at once (a round): the runs the scheduler trains at once."""
    if workers["workers"]:
        return workers["workers"]
    if workers["backend"] is not None:
        return 4  # a cluster's size is unknown before connecting; give --workers N to match it
    from convlab.runs.scheduler import default_workers

    return default_workers(args.device)


def _latest(store, resume) -> str:
    if resume:
        return str(resume)
    found = [s for s in store.sweeps() if s.get("search")]
    return str(found[0]["id"]) if found else "SEARCH"
