"""A search with and without pruning: the image-steps each spends and the best
validation accuracy each reaches, side by side (issue 25).

The relu preset's η (log-uniform) and λ (uniform) searched on a slice of the
training set, one trial at a time on the CPU (one thread). The sampler is
random, so for one seed every rule sees the same trials and differs only in
which it stops early: pruning can only lose a best trial it stopped, and the
seeds give the spread. Goal: pruning reaches the same best (within the seeds'
spread) for at most half the image-steps of the search without it.

    python bench/bench_search.py                      # 2 seeds × (none, asha), 20 trials of 9 epochs, 500 images
    python bench/bench_search.py --prune none asha median --seeds 3 --trials 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def one(prune: str, seed: int, args, folder: Path) -> dict:
    """One search in its own store; what it spent and what it found."""
    from convlab.runs import search
    from convlab.runs.runner import Runner
    from convlab.store import Store

    store = Store(folder / f"{prune}-{seed}.sqlite")
    params = tuple(search.parse_param(p) for p in args.param)
    definition = search.Search("relu", params, args.trials, "random", prune, seed)
    changes = {"epochs": args.epochs, "train_limit": args.images}
    started = time.perf_counter()
    sweep_id = search.start(store, Runner(store, device="cpu", workers=1), definition, changes, 1, say=lambda s: None)
    seconds = time.perf_counter() - started
    runs = [r for r in store.runs() if r.kind == "train"]
    found = search.best(store, sweep_id)
    return {
        "prune": prune,
        "seed": seed,
        "pruned": sum(r.status == "pruned" for r in runs),
        "epochs": sum(r.epochs_done for r in runs),
        "image_steps": sum(r.epochs_done for r in runs) * args.images,
        "best_val": found[1].best_val if found else None,
        "best": found[0] if found else {},
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prune", nargs="+", default=["none", "asha"], help="the rules compared (none first)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--images", type=int, default=500, help="the training slice")
    parser.add_argument(
        "--param", nargs="+", default=["train.eta=log:0.003..0.3", "train.lmbda=0..10"], help="FIELD=RANGE"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
        for seed in args.seeds:
            for prune in args.prune:
                results.append(one(prune, seed, args, Path(folder)))
                r = results[-1]
                best = ", ".join(f"{k.split('.')[-1]}={v:.3g}" for k, v in r["best"].items())
                print(
                    f"| {prune} | {seed} | {r['pruned']}/{args.trials} | {r['epochs']} | {r['image_steps']:,} "
                    f"| {r['best_val']:.2f} | {best} | {r['seconds']:.0f} |",
                    flush=True,
                )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = [r for r in results if r["prune"] == args.prune[0]]
    for prune in args.prune:
        mine = [r for r in results if r["prune"] == prune]
        steps = sum(r["image_steps"] for r in mine) / sum(r["image_steps"] for r in base)
        vals = [r["best_val"] for r in mine]
        spread = f"{min(vals):.2f}–{max(vals):.2f}"
        print(
            f"{prune}: image-steps {steps:.2f}× of {args.prune[0]}'s; best validation mean "
            f"{statistics.fmean(vals):.2f}% (seeds: {spread})"
        )


if __name__ == "__main__":
    main()
