"""Does the max-pool gradient rule matter? Presets trained under Theano's rule
(the book's) and under PyTorch's, several seeds each, mean ± sd of the test
accuracy at the best validation epoch, beside the book's figure.

The full schedules (60 epochs of 50,000 images) take 7–21 minutes a run on
one core; by default this runs a reduced comparison, one run at a time, and
says so in its output. For the full schedules use the scheduler, two runs at
a time (the figures of docs/measurements.md):

    python bench/pool_rule.py                                   # relu and one-conv, 10,000 images, 3 epochs, seeds 1-3
    convlab sweep relu --set train.pool_gradient=theano,torch --repeats 2 --seed 1 --workers 2

Runs go to a store (--store, default a temporary file) like any other run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from convlab.config import spec as specs
from convlab.runs.runner import Runner
from convlab.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["relu", "one-conv"])
    parser.add_argument("--images", type=int, default=10_000, help="training images (0 = the preset's)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--store", default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    store = Store(Path(args.store or tempfile.mkdtemp() + "/pool-rule.sqlite"))
    runner = Runner(store, device=args.device)
    label = "full schedule" if not args.images else f"REDUCED: {args.images:,} images, {args.epochs} epochs"
    print(f"{label}, seeds 1-{args.seeds}, test accuracy at the best validation epoch (mean ± sd)")
    for name in args.presets:
        spec = specs.load(name).with_train(repeats=args.seeds, epochs=args.epochs, train_limit=args.images)
        cells = []
        for rule in ("theano", "torch"):
            summary = runner.start(spec.with_train(pool_gradient=rule), seed=1)
            tests = [r.test_at_best for r in summary.runs]
            cells.append(
                f"{rule} {statistics.fmean(tests):6.2f} ± {statistics.stdev(tests):4.2f} "
                f"({', '.join(f'{t:.2f}' for t in tests)})"
            )
        book = f"{spec.book_figure:.2f}" if spec.book_figure else "—"
        print(f"{name:10s} " + " | ".join(cells) + f" | book {book}", flush=True)


if __name__ == "__main__":
    main()
