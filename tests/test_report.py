"""The comparison figures on hand-made stored runs, ensembles voted from stored
predictions, and `convlab compare` / `convlab ensemble` through the real CLI."""

from __future__ import annotations

import re

import numpy as np
import pytest

from convlab.errors import UserError
from convlab.results import report
from convlab.runs.ensemble import build_ensemble, vote
from convlab.store import Store

from helpers import assert_user_error
from report_fixtures import make_store, synthetic_test


@pytest.fixture
def made(tmp_path):
    return make_store(tmp_path / "runs.sqlite")


@pytest.fixture
def store(made):
    with Store(made.path) as s:
        yield s


def row_of(rows, kind, preset):
    return next(r for r in rows if r.kind == kind and r.preset == preset)


# ---------------------------------------------------------------- figures


def test_repeats_are_one_row_with_best_of_n_mean_and_sd(store, made):
    rows = report.compare(store)
    relu = row_of(rows, "repeats", "relu")
    assert relu.run_ids == made.relu
    assert relu.best.id == made.relu[1]  # best validation 99.4
    assert relu.best_val == pytest.approx(99.4)
    assert relu.test == pytest.approx(99.20)  # best of N: test at best of the best-validation run
    assert relu.mean == pytest.approx(99.20)
    assert relu.sd == pytest.approx(0.10)
    assert relu.book == pytest.approx(99.23)
    assert relu.diff == pytest.approx(-0.03)
    assert relu.sec_per_epoch == pytest.approx(11.0)
    assert relu.epochs == 2 and relu.data == "plain 50,000" and relu.device == "cpu"
    cells = dict(zip(report.COLUMN_KEYS, report.cells(relu)))
    assert cells["test"] == "99.20" and cells["diff"] == "-0.03" and cells["mean"] == "99.20 ± 0.10"
    assert cells["best"] == f"99.20 (run {made.relu[1]})" and cells["runs"] == "1–3"


def test_single_run_row_and_difference_to_the_book(store, made):
    two = row_of(report.compare(store), "run", "two-conv")
    assert two.run_ids == [made.two_conv]
    assert (two.test, two.best_val, two.book) == (pytest.approx(98.8), pytest.approx(98.9), pytest.approx(99.06))
    assert two.diff == pytest.approx(-0.26)
    assert two.mean is None and two.sd is None  # no spread from one run
    assert report.cells(two)[report.COLUMN_KEYS.index("best")] == "—"


def test_ensemble_vote_is_one_row_with_its_members_spread(store, made):
    rows = report.compare(store)
    ens = row_of(rows, "ensemble", "ensemble")
    assert ens.vote.id == made.vote and ens.run_ids == made.members
    assert ens.test == pytest.approx(95.0)  # 5 of 100 wrong
    assert ens.book == pytest.approx(99.67)  # the book's figure is the vote's
    accs = [90.0, 90.0, 90.0]  # each member wrong on 10 of 100
    assert ens.mean == pytest.approx(np.mean(accs)) and ens.sd == pytest.approx(0.0)
    # members are not rows of their own
    assert not any(made.members[0] in r.run_ids for r in rows if r is not ens)


def test_selection_by_id_preset_and_last(store, made):
    rows = report.compare(store, run_ids=made.relu[:2] + [made.two_conv])
    assert sorted((r.kind, r.preset, r.n) for r in rows) == [("repeats", "relu", 2), ("run", "two-conv", 1)]
    rows = report.compare(store, presets=["two-conv"])
    assert [r.run_ids for r in rows] == [[made.two_conv]]
    rows = report.compare(store, last=1)
    assert [r.run_ids for r in rows] == [[made.unfinished]]
    with pytest.raises(UserError, match="run 999 does not exist"):
        report.compare(store, run_ids=[999])
    with pytest.raises(UserError, match="no runs of preset 'tanh'"):
        report.compare(store, presets=["tanh"])


def test_sorting_by_any_column_with_missing_values_last(store):
    rows = report.compare(store)
    for key in report.COLUMN_KEYS:
        for reverse in (False, True):
            ordered = report.sort_rows(rows, key, reverse)
            values = [report.BY_KEY[key].value(r) for r in ordered]
            present = [v for v in values if v is not None]
            assert present == sorted(present, reverse=reverse), key
            assert values[len(present) :] == [None] * (len(values) - len(present))
    by_test = report.sort_rows(rows, "test", reverse=True)
    assert [r.preset for r in by_test][:2] == ["relu", "two-conv"]
    with pytest.raises(UserError, match="not a column"):
        report.sort_rows(rows, "colour")


def test_config_differences_of_two_rows(store, made):
    relu, two = (report.rows_of(store, [store.run(i)])[0] for i in (made.relu[0], made.two_conv))
    diff = {k: (a, b) for k, a, b in report.row_diff(relu, two)}
    assert diff["name"] == ("relu", "two-conv")
    assert diff["train.eta"] == (0.03, 0.1)
    assert diff["train.lmbda"] == (0.1, 0.0)
    assert diff["layers[0].activation"] == ("relu", "sigmoid")
    assert "seed" not in diff  # both seed 10
    assert "description" not in diff and "source" not in diff
    lines = report.diff_lines(relu, two)
    assert any("train.eta" in line and "0.03  →  0.1" in line for line in lines)
    other = report.rows_of(store, [store.run(made.relu[1])])[0]
    assert report.row_diff(relu, other) == [("seed", 10, 11)]
    same = report.diff_lines(relu, relu)
    assert same[0].endswith("the same config")


# ---------------------------------------------------------------- ensembles


def test_vote_with_disagreeing_members_and_ties_to_the_smallest_digit():
    labels = np.array([3, 3, 3, 7, 1], dtype=np.uint8)
    a = np.array([3, 5, 9, 7, 2], dtype=np.uint8)
    b = np.array([3, 5, 4, 1, 2], dtype=np.uint8)
    c = np.array([8, 3, 2, 7, 6], dtype=np.uint8)
    voted = vote([a, b, c])
    # 3 (2 votes); 5 (2 votes, wrong); 9/4/2 tie → 2; 7 (2 votes); 2 (2 votes)
    assert voted.tolist() == [3, 5, 2, 7, 2]
    assert vote([b, a, c]).tolist() == voted.tolist()  # member order does not matter
    assert vote([np.array([6], np.uint8), np.array([4], np.uint8)]).tolist() == [4]
    assert float((voted == labels).mean()) == pytest.approx(0.4)


def test_build_ensemble_stores_the_vote_as_a_run(store, made):
    test = synthetic_test()
    run = build_ensemble(store, made.members, test)
    assert run.kind == "ensemble" and run.members == made.members and run.status == "finished"
    assert run.test_at_best == pytest.approx(95.0)
    wrong = store.mistakes(run.id)
    assert [m.index for m in wrong] == [5, 6, 7, 8, 9]
    assert all(m.predicted == (m.label + 1) % 10 for m in wrong)
    assert np.array_equal(wrong[0].image, test.images[5])
    assert run.book_figure == pytest.approx(99.67)  # members have the ensemble preset's architecture
    # compare treats the new vote like any other run
    rows = report.compare(store, run_ids=[run.id])
    assert rows[0].kind == "ensemble" and rows[0].test == pytest.approx(95.0)


def test_build_ensemble_refuses_what_cannot_vote(store, made):
    test = synthetic_test()
    with pytest.raises(UserError, match="at least two"):
        build_ensemble(store, [made.relu[0]], test)
    with pytest.raises(UserError, match=f"run {made.unfinished} is interrupted, not finished"):
        build_ensemble(store, [made.relu[0], made.unfinished], test)
    with pytest.raises(UserError, match="is itself an ensemble vote"):
        build_ensemble(store, [made.relu[0], made.vote], test)
    with pytest.raises(UserError, match="named twice"):
        build_ensemble(store, [made.relu[0], made.relu[0]], test)
    with pytest.raises(UserError, match="not the 50 of this test set"):
        build_ensemble(store, made.relu[:2], synthetic_test(50))


# ---------------------------------------------------------------- the CLI


def test_cli_compare_two_runs_of_a_preset_and_one_of_another(made, run_cli):
    ids = [*made.relu[:2], made.two_conv]
    result = run_cli("compare", *map(str, ids), "--store", made.path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["#", "preset", "runs", "n"]
    assert lines[1].split()[:4] == ["4", "two-conv", str(made.two_conv), "1"]
    assert lines[2].split()[:4] == ["6", "relu", "1–2", "2"]
    assert "validation accuracy (%)" in result.stdout  # the curves
    ticks = [float(m) for m in re.findall(r"^ *(\d+(?:\.\d+)?) ?┤", result.stdout, re.M)]
    steps = {round(a - b, 6) for a, b in zip(ticks, ticks[1:])}  # evenly spaced, round
    assert len(ticks) >= 3 and len(steps) == 1 and steps <= {0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0}
    assert "config differences" in result.stdout and "train.eta" in result.stdout
    by_test = run_cli("compare", "--store", made.path, "--sort", "test", "--reverse", "--no-curves")
    presets = [line.split()[1] for line in by_test.stdout.splitlines()[1:]]
    assert presets == ["relu", "two-conv", "relu", "ensemble"]  # 99.20, 98.80, 96.90, 95.00
    assert "validation accuracy" not in by_test.stdout


def test_cli_compare_errors_are_one_line(made, run_cli):
    assert_user_error(run_cli("compare", "999", "--store", made.path), "run 999 does not exist")
    assert_user_error(run_cli("compare", "--sort", "colour", "--store", made.path), "--sort colour")
    assert_user_error(run_cli("compare", "--last", "0", "--store", made.path), "--last 0")


def test_cli_ensemble_votes_stores_and_shows_the_mistakes(tmp_path, mnist, run_cli):
    made = make_store(tmp_path / "mnist-runs.sqlite", mnist.test)
    result = run_cli("ensemble", *map(str, made.members), "--store", made.path)
    assert result.returncode == 0, result.stderr
    assert "99.95%, 5 of 10,000 test digits wrong" in result.stdout
    assert "5 misclassified test digits" in result.stdout
    with Store(made.path) as store:
        vote_run = store.runs(limit=1)[0]
        assert vote_run.kind == "ensemble" and vote_run.members == made.members
        assert vote_run.test_at_best == pytest.approx(99.95)
        assert len(store.mistakes(vote_run.id)) == 5
    assert_user_error(
        run_cli("ensemble", str(made.relu[0]), str(made.unfinished), "--store", made.path),
        f"run {made.unfinished}",
        "not finished",
    )
    assert_user_error(run_cli("ensemble", "1", "999", "--store", made.path), "run 999 does not exist")
