"""Ensembles, all in one place: the plurality vote, as the book's (each network
votes with its argmax and the most votes win; ties go to the smallest digit
among the tied, a stated rule, so the result does not depend on member order),
checking the members, the vote's spec, and storing the vote as a run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from convlab.errors import UserError
from convlab.store import Run, Store, mistakes_of
from convlab.term.format import id_ranges


def vote(predictions: list[np.ndarray]) -> np.ndarray:
    """(members × N) predicted labels → (N,) voted labels."""
    stacked = np.stack([np.asarray(p, dtype=np.int64) for p in predictions])
    counts = np.zeros((10, stacked.shape[1]), dtype=np.int64)
    for row in stacked:
        counts[row, np.arange(stacked.shape[1])] += 1
    return counts.argmax(axis=0).astype(np.uint8)  # argmax takes the first (smallest) on ties


def store_vote(store: Store, spec, members: list[Run], test, group_id: int | None = None) -> Run:
    """Vote with the members' stored test predictions and keep the vote as a
    run of kind 'ensemble' (accuracy, predictions, misclassified digits).
    `test` is the MNIST test split the members predicted."""
    voted = vote([store.predictions(r.id) for r in members])
    run_id = store.create_run(
        spec,
        group_id=group_id,
        member=len(members) if group_id else 0,
        kind="ensemble",
        members=[r.id for r in members],
        device=members[0].device,
    )
    store.set_result(run_id, test_at_best=float((voted == test.labels).mean() * 100.0))
    store.save_outcome(run_id, voted, mistakes_of(voted, test))
    store.finish(run_id, "finished")
    return store.run(run_id)


def check_members(store: Store, run_ids: list) -> list[Run]:
    """Finished training runs with stored test predictions, at least two, distinct."""
    runs = [store.run(r) for r in run_ids]
    if len({r.id for r in runs}) != len(runs):
        raise UserError("ensemble: a run is named twice; name each member once")
    if len(runs) < 2:
        raise UserError("ensemble: give at least two runs to vote")
    for run in runs:
        if run.kind != "train":
            raise UserError(f"ensemble: run {run.id} is itself an ensemble vote; name its members instead")
        if run.status != "finished":
            raise UserError(
                f"ensemble: run {run.id} is {run.status}, not finished; "
                f"finish it first (`convlab run --resume {run.id}`)"
            )
    return runs


def build_ensemble(store: Store, run_ids: list, test) -> Run:
    """Vote with the members' stored test predictions (plurality, ties to the
    smallest digit) and store the vote as a run of kind 'ensemble'. `test` is
    the MNIST test split (its labels and the misclassified images)."""
    runs = check_members(store, run_ids)
    for run in runs:
        p = store.predictions(run.id)
        if p is None:
            raise UserError(f"ensemble: run {run.id} has no stored test predictions; it cannot vote")
        if len(p) != len(test):
            raise UserError(
                f"ensemble: run {run.id} predicted {len(p):,} test digits, not the {len(test):,} "
                "of this test set; members must share one test set"
            )
    return store_vote(store, _ensemble_spec(runs), runs, test)


def _ensemble_spec(runs: list[Run]):
    """The first member's spec, named for the vote; the book's figure only when a
    shipped ensemble preset has the members' architecture and data."""
    from convlab.config.spec import list_presets

    spec = runs[0].spec
    names = sorted({r.preset for r in runs})
    book = None
    for preset in list_presets():
        if preset.train.ensemble > 1 and preset.layers == spec.layers and preset.train.data == spec.train.data:
            book = preset.book_figure
    title = f"Ensemble of runs {id_ranges([r.id for r in runs])} ({', '.join(names)})"
    return replace(spec.with_train(repeats=1, ensemble=len(runs)), name="+".join(names), title=title, book_figure=book)


def split(store: Store, run: Run, labels: np.ndarray) -> list[dict]:
    """The test digits on which a vote's members disagree: index, label, the
    vote and each member's prediction (from their stored predictions)."""
    if run.kind != "ensemble":
        raise UserError(f"--split: run {run.id} is not a vote; `convlab ensemble RUNS` makes one of finished runs")
    members = {m: store.predictions(m) for m in run.members}
    if any(p is None for p in members.values()):
        raise UserError(f"--split: a member of vote {run.id} has no stored test predictions")
    stacked = np.stack(list(members.values()))
    voted = vote(list(members.values()))
    return [
        {
            "index": int(i),
            "label": int(labels[i]),
            "vote": int(voted[i]),
            "votes": {str(m): int(p[i]) for m, p in members.items()},
        }
        for i in np.flatnonzero((stacked != stacked[0]).any(axis=0))
    ]
