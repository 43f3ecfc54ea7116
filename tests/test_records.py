"""Results as data: `convlab export --format records` writes one JSON file per
finished run and per vote from a real store, and the book-against-convlab
table is made from those files alone."""

from __future__ import annotations

import json

from convlab.config.spec import load
from convlab.results import records
from convlab.runs.ensemble import vote
from convlab.store import Store, mistakes_of

from helpers import REPO, assert_user_error
from report_fixtures import add_run, member_predictions, synthetic_test


def test_export_writes_a_record_per_finished_run_and_the_table(run_cli, tmp_path):
    trained = run_cli("run", "shallow", "--epochs", "1", "--train-limit", "300", "--repeats", "2", "--seed", "7")
    assert trained.returncode == 0, trained.stderr
    first = run_cli("export", "--format", "records", "-o", "out")
    assert first.returncode == 0, first.stderr
    files = sorted(p.name for p in (tmp_path / "out" / "shallow").iterdir())
    assert files == ["seed-7-epochs-1-first-300.json", "seed-8-epochs-1-first-300.json"]
    record = json.loads((tmp_path / "out" / "shallow" / files[0]).read_text())
    with Store(tmp_path / "convlab.sqlite") as store:
        run = store.run(record["run"])
        assert record["test_at_best"] == round(run.test_at_best, 2)
        assert record["best_validation"] == round(run.best_val, 2)
        assert record["digits_wrong"] == len(store.mistakes(run.id))
        assert record["wall_seconds"] == round(sum(e.seconds for e in store.epochs(run.id)), 1)
    assert record["seed"] == 7 and record["epochs"] == 1 and record["preset_epochs"] == 60
    assert record["torch"] and record["convlab"] and record["machine"] and record["images_per_s"] > 0
    assert record["book_figure"] == 97.80 and record["data"] == "plain" and record["train_limit"] == 300
    # a shortened run is kept as data but never set beside the book
    table = (tmp_path / "out" / records.TABLE).read_text()
    assert "| `shallow` | 97.80 | not run as data yet |" in table
    again = run_cli("export", "--format", "records", "-o", "out")
    assert again.returncode == 0 and sorted(p.name for p in (tmp_path / "out" / "shallow").iterdir()) == files


def test_records_need_a_folder(run_cli):
    assert_user_error(run_cli("export", "--format", "records"), "--format records", "-o DIR")


def full_store(path):
    """Three full-schedule relu runs and a 3-member ensemble with its vote (5 digits wrong)."""
    test = synthetic_test()
    with Store(path) as store:
        relu = load("relu")
        group = store.create_group(relu)
        for member, (val, acc) in enumerate([(99.0, 99.10), (99.4, 99.20), (99.2, 99.30)]):
            add_run(store, relu, group, member, [(val, acc, 10.0)], test.labels.copy(), test, seed=member + 1)
        ens = load("ensemble").with_train(ensemble=3)
        group = store.create_group(ens)
        members = []
        for member, p in enumerate(member_predictions(test.labels)):
            acc = float((p == test.labels).mean() * 100)
            members.append(add_run(store, ens, group, member, [(acc, acc, 30.0)], p, test, seed=member + 1))
        voted = vote(member_predictions(test.labels))
        vote_id = store.create_run(ens, group_id=group, member=3, kind="ensemble", members=members, device="cpu")
        store.set_result(vote_id, test_at_best=float((voted == test.labels).mean() * 100))
        store.save_outcome(vote_id, voted, mistakes_of(voted, test))
        store.finish(vote_id, "finished")
        return records.write(store, store.runs(), path.parent / "results")


def test_the_table_is_made_from_the_files(tmp_path):
    written = full_store(tmp_path / "s.sqlite")
    folder = tmp_path / "results"
    assert {p.name for p in written} == {"seed-1.json", "seed-2.json", "seed-3.json", "vote-seeds-1-3.json"}
    vote_record = json.loads((folder / "ensemble" / "vote-seeds-1-3.json").read_text())
    assert (
        vote_record["kind"] == "vote" and vote_record["digits_wrong"] == 5 and vote_record["member_seeds"] == [1, 2, 3]
    )
    table = records.markdown(records.load(folder))
    assert table == (folder / records.TABLE).read_text()
    relu = next(line for line in table.splitlines() if line.startswith("| `relu`"))
    # best of 3 by validation is the 99.4 run (test 99.20); mean 99.20 ± 0.10
    assert relu.split(" | ")[1:5] == ["99.23", "99.20", "99.20 ± 0.10", "3"]
    assert relu.split(" | ")[6] == "10s"  # the time of a run's epochs (one of 10 s each), not its row's age
    members = next(line for line in table.splitlines() if "members" in line)
    assert members.split(" | ")[1] == "99.60"  # single dropout networks: the dropout preset's figure
    voted = next(line for line in table.splitlines() if "the vote of 3" in line)
    assert voted.split(" | ")[1] == "99.67" and voted.split(" | ")[5] == "5"
    assert vote_record["wall_seconds"] == 90.0 and voted.split(" | ")[6] == "1m30s, all 3"  # its members' epochs
    # the table reads the files, not the store: it survives the store's removal
    (tmp_path / "s.sqlite").unlink()
    assert records.markdown(records.load(folder)) == table


def test_a_damaged_record_is_named(tmp_path):
    full_store(tmp_path / "s.sqlite")
    (tmp_path / "results" / "relu" / "seed-1.json").write_text("{not json")
    import pytest

    from convlab.errors import UserError

    with pytest.raises(UserError, match="seed-1.json: not a convlab record"):
        records.load(tmp_path / "results")


def test_the_readme_table_is_generated_from_the_results_folder():
    """results/TABLE.md is what the files in results/ make, and the README
    (whose block the docs' front page includes) carries it word for word."""
    table = (REPO / "results" / records.TABLE).read_text(encoding="utf-8")
    assert table == records.markdown(records.load(REPO / "results"))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("[start:book-table]") : readme.index("[end:book-table]")]
    assert table in block


def test_a_record_writes_accuracy_in_hundredths(tmp_path):
    """An accuracy on 10,000 digits is a whole number of hundredths: the file says
    99.54, not the float's 99.53999999999999."""
    with Store(tmp_path / "s.sqlite") as store:
        relu = load("relu")
        add_run(store, relu, store.create_group(relu), 0, [(9937 / 10000 * 100, 9954 / 10000 * 100, 10.0)], seed=3)
        records.write(store, store.runs(), tmp_path / "results")
    text = (tmp_path / "results" / "relu" / "seed-3.json").read_text()
    assert '"test_at_best": 99.54,' in text and '"best_validation": 99.37,' in text


def test_one_run_gives_its_figure_without_a_spread(tmp_path):
    """A sample sd needs two runs: a row of one says so instead of ± 0.00."""
    with Store(tmp_path / "s.sqlite") as store:
        relu = load("relu")
        add_run(store, relu, store.create_group(relu), 0, [(99.37, 99.22, 25.0)], seed=1)
        records.write(store, store.runs(), tmp_path / "results")
    table = records.markdown(records.load(tmp_path / "results"))
    row = next(line for line in table.splitlines() if line.startswith("| `relu`"))
    assert row.split(" | ")[2:5] == ["99.22", "99.22 (one run)", "1"]


def test_members_before_their_vote_say_what_the_vote_awaits(tmp_path):
    """Two of the ensemble's five members finished, no vote yet: their row is set
    beside the dropout preset's 99.60, and the vote's 99.67 row says what it awaits."""
    with Store(tmp_path / "s.sqlite") as store:
        ensemble = load("ensemble")
        group = store.create_group(ensemble)
        for member, (val, test) in enumerate([(99.61, 99.55), (99.50, 99.51)]):
            add_run(store, ensemble, group, member, [(val, test, 300.0)], seed=101 + member)
        records.write(store, store.runs(), tmp_path / "results")
    lines = records.markdown(records.load(tmp_path / "results")).splitlines()
    members = next(line for line in lines if line.startswith("| `ensemble` members"))
    assert members.split(" | ")[1:5] == ["99.60", "99.55", "99.53 ± 0.03", "2"]
    vote = next(line for line in lines if line.startswith("| `ensemble`: the vote"))
    assert vote.split(" | ")[1:3] == ["99.67", "no vote yet: 2 of 5 members"]
