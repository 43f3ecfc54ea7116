"""convlab.api on a real store, and the tidy CSV and JSON exports written from
its records: integer columns stay integers (a vote's row included), the same
name and the same ISO 8601 time in both, the hyper-parameters as columns so a
sweep pivots (read back with pandas)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import numpy as np
import pytest

from convlab import api
from convlab.config.spec import load
from convlab.errors import UserError
from convlab.results import report
from convlab.results.export import tables
from convlab.store import Store

from report_fixtures import add_run, make_store

INTS_IN_CSV = (
    "run",
    "group",
    "member",
    "seed",
    "epochs_planned",
    "epochs_done",
    "best_epoch",
    "batch_size",
    "train_size",
    "epoch",
)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    made = make_store(tmp_path_factory.mktemp("api") / "runs.sqlite")
    with Store(made.path) as store:  # a small η sweep of one-epoch runs, beside the hand-made ones
        group = store.create_group(load("relu"))
        made.sweep = [
            add_run(
                store,
                load("relu").with_train(epochs=2, eta=eta, train_limit=1000),
                group,
                i,
                [(90.0 + i, 89.0 + i, 1.5), (91.0 + i, 90.0 + i, 1.25)],
            )
            for i, eta in enumerate((0.01, 0.03, 0.1))
        ]
        store.set_tags(made.sweep, add=["sweep"])
        store.set_note(made.sweep[0], "smallest η")
    return made


@pytest.fixture
def store(made):
    with Store(made.path) as s:
        yield s


def test_runs_are_plain_records_with_hyper_parameters(store, made):
    records = api.runs(store)
    assert [r["run"] for r in records] == sorted(r["run"] for r in records)
    first = next(r for r in records if r["run"] == made.sweep[0])
    assert first["eta"] == 0.01 and first["lmbda"] == 0.1 and first["activation"] == "relu"
    assert first["dropout"] == 0.0 and first["batch_size"] == 10 and first["data"] == "plain"
    assert first["train_size"] == 1000 and first["tags"] == ["sweep"] and first["note"] == "smallest η"
    assert datetime.fromisoformat(first["started"]).timestamp() == pytest.approx(
        store.run(made.sweep[0]).started, abs=1
    )
    dropout = api.hparams(load("dropout").to_dict())
    assert dropout["dropout"] == 0.5 and dropout["train_size"] == 250_000
    json.dumps(records)  # plain: nothing a notebook cannot serialise
    assert [r["run"] for r in api.runs(made.path, tag="sweep")] == made.sweep
    assert api.run(store, made.vote)["members"] == made.members
    assert api.config(store, made.two_conv)["name"] == "two-conv"


def test_epochs_filters_predictions_mistakes_and_comparison(store, made):
    lines = api.epochs(store, made.sweep)
    assert [(line["run"], line["epoch"]) for line in lines] == [(r, e) for r in made.sweep for e in (1, 2)]
    assert lines[1]["val_acc"] == 91.0 and lines[1]["eta"] == 0.01
    assert np.array_equal(api.filters(store, made.relu[0]), store.filters(made.relu[0]))
    assert sorted(api.filters_by_epoch(store, made.relu[0])) == [1, 2]
    assert np.array_equal(api.predictions(store, made.vote), store.predictions(made.vote))
    wrong = api.mistakes(store, made.vote, images=True)
    assert [m["index"] for m in wrong] == [5, 6, 7, 8, 9] and wrong[0]["image"].shape == (28, 28)
    rows = api.comparison(store)
    assert [r["key"] for r in rows] == [r.key for r in report.compare(store)]
    sweep_row = next(r for r in rows if r["runs"] == made.sweep)
    assert sweep_row["tags"] == ["sweep"] and sweep_row["train_size"] == 1000


def test_csv_and_json_agree_on_names_times_and_integers(store, made):
    rows = report.compare(store)
    lines = list(csv.DictReader(io.StringIO(tables.to_csv(store, rows))))
    for line in lines:
        for column in INTS_IN_CSV:
            assert line[column] == "" or line[column].lstrip("-").isdigit(), (column, line[column])
    vote = next(line for line in lines if line["run"] == str(made.vote))
    assert vote["group"] != "" and vote["epoch"] == "" and vote["seed"] == ""
    doc = json.loads(tables.to_json(store, rows))
    by_run = {r["run"]: r for r in doc["runs"]}
    assert "id" not in by_run[made.vote]
    for line in lines:
        record = by_run[int(line["run"])]
        assert line["started"] == record["started"] and datetime.fromisoformat(line["started"])
        assert line["preset"] == record["preset"] and line["data"] == record["data"]
    assert datetime.fromisoformat(doc["exported"])
    loss = next(line for line in lines if line["run"] == str(made.relu[2]) and line["epoch"] == "2")
    assert loss["train_loss"] == "0.5" and loss["val_acc"] == "99.1"
    long = api.rounded({"train_loss": 0.123456789, "val_acc": 99.12999999, "seconds": 1.23456})
    assert long == {"train_loss": 0.123457, "val_acc": 99.13, "seconds": 1.235}


def test_pandas_reads_the_csv_with_integer_columns_and_pivots_a_sweep(store, made, tmp_path):
    pd = pytest.importorskip("pandas", reason="DataFrames need pandas: pip install 'nndl-convlab[pandas]'")
    path = tmp_path / "runs.csv"
    path.write_text(tables.to_csv(store, report.compare(store)), encoding="utf-8")
    df = pd.read_csv(path, dtype_backend="numpy_nullable")
    for column in ("epoch", "group", "seed", "run", "train_size"):
        assert str(df[column].dtype) == "Int64", column
    assert df["kind"].eq("ensemble").any()  # the vote's row is there and did not make floats of them
    frame = api.epochs(store, made.sweep, frame=True)
    assert str(frame["epoch"].dtype) == "Int64" and str(frame["seed"].dtype) == "Int64"
    table = frame.pivot_table(index="epoch", columns="eta", values="val_acc")
    assert list(table.columns) == [0.01, 0.03, 0.1] and table.loc[2, 0.1] == 93.0
    runs = api.runs(store, frame=True)
    assert str(runs["started"].dtype).startswith("datetime64") and len(runs) == len(store.runs())
    comparison = api.comparison(store, frame=True)
    assert str(comparison["best_run"].dtype) == "Int64"


def test_runs_filter_on_parameters_and_metrics_order_and_limit(store, made):
    """where, order_by and limit, as MLflow's search_runs and W&B's Api().runs offer (#21 item 13)."""
    sweep = api.runs(store, tag="sweep")
    assert [r["run"] for r in api.runs(store, tag="sweep", where={"eta": 0.03})] == [made.sweep[1]]
    assert [r["run"] for r in api.runs(store, tag="sweep", where={"eta": [0.01, 0.1]})] == [
        made.sweep[0],
        made.sweep[2],
    ]
    best = api.runs(store, where={"train_size": 1000, "test_at_best >=": 91.0}, order_by="-test_at_best")
    assert [r["run"] for r in best] == [made.sweep[2], made.sweep[1]]
    assert [r["run"] for r in api.runs(store, tag="sweep", order_by="-eta", limit=2)] == made.sweep[:0:-1]
    assert [r["run"] for r in api.runs(store, where=lambda r: r["eta"] > 0.05, tag="sweep")] == [made.sweep[2]]
    ordered = api.runs(store, order_by="test_at_best")
    assert ordered[-1]["test_at_best"] is None or all(r["test_at_best"] is not None for r in ordered)  # None last
    assert len(api.runs(store, order_by="run", limit=1)) == 1 and sweep
    for kwargs, said in (
        ({"where": {"etaa": 1}}, "where 'etaa': not a column of a run"),
        ({"order_by": "-nope"}, "order_by 'nope': not a column"),
        ({"limit": 0}, "limit 0: give a whole number of runs, at least 1"),
        ({"where": {"preset >": 3}}, "cannot be compared"),
    ):
        with pytest.raises(UserError, match=said):
            api.runs(store, **kwargs)


def test_a_run_object_with_its_params_metrics_and_history(store, made):
    run = api.open_run(store, made.sweep[1])
    assert run.id == made.sweep[1] and run.config["train"]["eta"] == 0.03
    assert run.params["eta"] == 0.03 and run.params["train_size"] == 1000
    assert run.metrics == {
        "best_val": 92.0,
        "best_epoch": 2,
        "test_at_best": 91.0,
        "book_figure": 99.23,
        "epochs_done": 2,
    }
    history = run.history()
    assert [(h["epoch"], h["val_acc"], h["seconds"]) for h in history] == [(1, 91.0, 1.5), (2, 92.0, 1.25)]
    assert set(history[0]) == {"run", *api.EPOCH_FIELDS, "eta"}
    assert np.array_equal(run.filters(), store.filters(made.sweep[1]))
    assert api.open_run(store, made.vote).predictions() is not None


def test_the_public_names_are_declared():
    assert set(api.__all__) >= {"runs", "open_run", "StoredRun", "epochs", "comparison", "network"}
    assert all(hasattr(api, name) for name in api.__all__)
