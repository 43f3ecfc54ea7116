"""The ensemble's plurality vote: each network votes with its argmax, the most
votes win, ties go to the smallest digit among the tied."""

from __future__ import annotations

import itertools

import numpy as np

from convlab.runs.ensemble import vote
from convlab.store import Store


def test_majority_wins_where_members_disagree():
    members = [[1, 2, 3, 9, 0], [1, 5, 3, 8, 0], [4, 5, 3, 8, 6]]
    result = vote([np.array(m, dtype=np.uint8) for m in members])
    assert result.tolist() == [1, 5, 3, 8, 0]
    assert result.dtype == np.uint8 and result.shape == (5,)


def test_ties_go_to_the_smallest_tied_digit():
    assert vote([[7, 2], [3, 9]]).tolist() == [3, 2]  # 1 vote each
    assert vote([[9], [8], [7]]).tolist() == [7]
    # 6 and 4 tie with two votes; 1 has fewer votes, so it does not win despite being smaller
    assert vote([[6], [6], [4], [4], [1]]).tolist() == [4]
    assert vote([[5], [2], [5], [2]]).tolist() == [2]


def test_vote_does_not_depend_on_member_order():
    rng = np.random.default_rng(3)
    members = [rng.integers(0, 10, size=500) for _ in range(5)]
    expected = vote(members)
    for order in itertools.islice(itertools.permutations(range(5)), 0, 120, 17):
        assert np.array_equal(vote([members[i] for i in order]), expected)
    # checked against a direct count
    counts = np.stack([(np.stack(members) == d).sum(0) for d in range(10)])
    assert np.array_equal(expected, counts.argmax(0))
    assert all(counts[expected[i], i] == counts[:, i].max() for i in range(500))
    assert all(counts[: expected[i], i].max(initial=0) < counts[expected[i], i] for i in range(500))


def test_one_member_is_its_own_vote():
    p = np.arange(10, dtype=np.uint8)
    assert np.array_equal(vote([p]), p)


def test_ensemble_run_votes_its_members(run_cli, write_toml, tmp_path, mnist):
    """A small ensemble of a user's own TOML, trained by the CLI: the stored
    vote is the plurality of the members' stored predictions."""
    path = write_toml(
        "tiny-ensemble.toml",
        [{"type": "fc", "n_out": 20}, {"type": "softmax"}],
        {"epochs": 1, "eta": 0.5, "ensemble": 3, "train_limit": 300},
        name="tiny-ensemble",
        book_figure=99.67,
    )
    result = run_cli("run", path, "--seed", "10")
    assert result.returncode == 0, result.stderr
    assert "ensemble of 3" in result.stdout and "ensemble vote" in result.stdout
    with Store(tmp_path / "convlab.sqlite") as store:
        # members in member order (with several workers their ids need not follow it); the vote last
        runs = sorted(store.runs(), key=lambda r: (r.kind == "ensemble", r.member))
        members, voted = runs[:3], runs[3]
        assert [r.kind for r in members] == ["train"] * 3 and voted.kind == "ensemble"
        assert [r.seed for r in members] == [10, 11, 12]
        assert voted.members == [r.id for r in members] and voted.status == "finished"
        predictions = [store.predictions(r.id) for r in members]
        assert not all(np.array_equal(predictions[0], p) for p in predictions[1:])  # they disagree somewhere
        expected = vote(predictions)
        assert np.array_equal(store.predictions(voted.id), expected)
        accuracy = float((expected == mnist.test.labels).mean() * 100)
        assert voted.test_at_best == accuracy
        assert len(store.mistakes(voted.id)) == int((expected != mnist.test.labels).sum())
        assert f"{accuracy:.2f}%" in result.stdout
