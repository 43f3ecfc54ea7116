"""A run store of hand-made runs with known figures, for the tests of compare,
export, ensembles and the compare screen. Written through the real Store API,
as the runner writes it, but with numbers chosen so every statistic is known:

- group of 3 `relu` runs (A, B, C): best validation 99.0 / 99.4 / 99.2, test at
  best 99.10 / 99.20 / 99.30 → best of N = run B, 99.20; mean 99.20, sd 0.10;
  the book's 99.23 → difference −0.03. Epoch seconds 10, 12 / 11, 13 / 9, 11 → 11.
- one `two-conv` run: 98.80 at best validation 98.90, book 99.06 → −0.26.
- an `ensemble` group of 3 members that disagree, and its vote (as the runner
  stores it): the vote is wrong on exactly 5 test digits.
- one interrupted `relu` run (not finished: it cannot vote).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convlab.config.spec import load
from convlab.data.mnist import Split
from convlab.runs.ensemble import vote
from convlab.store import Store, mistakes_of

from helpers import epoch_event


@dataclass
class Made:
    path: Path
    relu: list[int] = field(default_factory=list)
    two_conv: int = 0
    members: list[int] = field(default_factory=list)
    vote: int = 0
    unfinished: int = 0
    vote_wrong: int = 5


def synthetic_test(n: int = 100) -> Split:
    rng = np.random.default_rng(0)
    return Split(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8))


def add_run(
    store: Store,
    spec,
    group_id,
    member,
    epochs,
    predictions=None,
    test=None,
    status="finished",
    seed=None,
    val_losses=None,
) -> int:
    """epochs: [(val, test or None, seconds)], written as the runner would;
    val_losses: each epoch's validation loss (None: not stored, as before store version 3)."""
    run_id = store.create_run(
        spec, group_id=group_id, member=member, seed=seed if seed is not None else 10 + member, device="cpu"
    )
    best_val, best_epoch, test_at_best = -1.0, 0, None
    rng = np.random.default_rng(run_id)
    for i, (val, test_acc, seconds) in enumerate(epochs, start=1):
        if val >= best_val:
            best_val, best_epoch, test_at_best = val, i, test_acc
        store.add_epoch(
            run_id,
            epoch_event(
                i,
                val,
                test_acc=test_acc,
                seconds=seconds,
                learning_rate=spec.train.eta,
                best_val=best_val,
                best_epoch=best_epoch,
                test_at_best=test_at_best,
                val_loss=val_losses[i - 1] if val_losses else None,
                filters=rng.normal(size=(20, 5, 5)).astype(np.float32),
                checkpoint=b"x",
            ),
        )
    if predictions is not None:
        store.save_outcome(run_id, predictions, mistakes_of(predictions, test))
    store.finish(run_id, status)
    return run_id


def member_predictions(labels: np.ndarray) -> list[np.ndarray]:
    """A wrong on 0–9, B on 5–14 (A and B agree there), C on 20–29: the vote
    is wrong on 5–9 only."""
    a, b, c = (labels.astype(np.uint8).copy() for _ in range(3))
    a[0:10] = (labels[0:10] + 1) % 10
    b[5:15] = (labels[5:15] + 1) % 10
    c[20:30] = (labels[20:30] + 2) % 10
    return [a, b, c]


def make_store(path: Path, test: Split | None = None) -> Made:
    """The store described above; `test` is the test split the predictions
    refer to (a synthetic one of 100 digits by default; MNIST's for the CLI)."""
    test = test or synthetic_test()
    made = Made(path)
    with Store(path) as store:
        relu = load("relu").with_train(epochs=2)
        group = store.create_group(relu)
        for member, (vals, tests, secs) in enumerate(
            [
                ((98.0, 99.0), (97.9, 99.10), (10, 12)),
                ((98.5, 99.4), (98.4, 99.20), (11, 13)),
                ((99.2, 99.1), (99.30, None), (9, 11)),
            ]
        ):
            correct = test.labels.copy()
            made.relu.append(add_run(store, relu, group, member, list(zip(vals, tests, secs)), correct, test))
        two = load("two-conv").with_train(epochs=1)
        made.two_conv = add_run(store, two, store.create_group(two), 0, [(98.9, 98.8, 20.0)], test.labels.copy(), test)
        ens = load("ensemble").with_train(epochs=1, ensemble=3)
        group = store.create_group(ens)
        for member, p in enumerate(member_predictions(test.labels)):
            acc = float((p == test.labels).mean() * 100)
            made.members.append(add_run(store, ens, group, member, [(acc, acc, 30.0)], p, test))
        voted = vote(member_predictions(test.labels))
        made.vote = store.create_run(ens, group_id=group, member=3, kind="ensemble", members=made.members, device="cpu")
        store.set_result(made.vote, test_at_best=float((voted == test.labels).mean() * 100))
        store.save_outcome(made.vote, voted, mistakes_of(voted, test))
        store.finish(made.vote, "finished")
        assert int((voted != test.labels).sum()) == made.vote_wrong
        made.unfinished = add_run(store, relu, None, 0, [(97.0, 96.9, 10.0)], status="interrupted")
    return made
