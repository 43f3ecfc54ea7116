"""`convlab search`: ranges checked like presets (one line, exit 2); a search
with pruning in the real store stores its pruned trials with the epochs they
trained; the same seed gives the same trials; SIGTERM then `--resume` continues
the same sequence; the table in `compare --sweep` and the exports; an older
store gains the column that holds a search."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time

import pytest

from convlab.runs import search, sweep
from convlab.runs.runner import Runner
from convlab.store import Store, schema

from helpers import DATA, assert_user_error, cli_command, cli_env, toml_text

pytest.importorskip("optuna", reason="the search extra: pip install 'nndl-convlab[search]'")

TINY = [{"type": "conv_pool", "maps": 2}, {"type": "fc", "n_out": 8}, {"type": "softmax", "n_out": 10}]
PARAMS = ("--param", "train.eta=log:0.001..1", "--param", "train.lmbda=0..5")


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(toml_text(TINY, {"activation": "relu", "epochs": 2, "eta": 0.1}, name="tiny"))
    return path


def _trials(store: Store, sweep_id: int) -> list[tuple]:
    """Each trial's values and how it ended: what a search's sequence is."""
    _, rows = sweep.table(store, sweep_id)
    return [(row.fields, [(r.status, r.epochs_done, r.best_val) for r in row.runs]) for row in rows]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--param", "train.eta=log:0..1"), "a log: range must start above 0"),
        (("--param", "train.eta=0.5..0.1"), "the range is empty"),
        (("--param", "train.eta=0.1..zz"), "'zz' is not a number"),
        (("--param", "train.etaa=0.1..1"), "train.etaa is not a known field; did you mean 'eta'?"),
        (("--param", "layers[9].n_out=int:4..8"), "has 3 layers"),
        (("--param", "train.lmbda=-1..1"), "train.lmbda is -1"),
        (("--param", "eta"), "give FIELD=RANGE"),
        ((*PARAMS, "--sampler", "grid"), "--sampler grid: not a sampler; choose random or tpe"),
        ((*PARAMS, "--prune", "mean"), "--prune mean: not a pruner"),
        ((*PARAMS, "--trials", "0"), "--trials 0: must be a whole number from 1"),
        (("--param", "train.eta=0.1..1", "--param", "train.eta=0.2..1"), "train.eta is searched twice"),
    ],
)
def test_a_bad_range_field_or_option_is_one_line_and_stores_nothing(run_cli, tiny, tmp_path, args, fragment):
    assert_user_error(run_cli("search", tiny, *args, "--workers", "1"), fragment)
    assert not (tmp_path / "convlab.sqlite").exists() or Store(tmp_path / "convlab.sqlite").sweeps() == []


def test_without_optuna_one_line_names_the_extra(run_cli, tiny, tmp_path):
    blocker = tmp_path / "blocked" / "optuna"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {**cli_env(tmp_path / "s.sqlite"), "PYTHONPATH": str(blocker.parent)}
    result = subprocess.run(
        cli_command("search", tiny, *PARAMS, "--workers", "1"), cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert_user_error(result, "pip install 'nndl-convlab[search]'")


def test_a_search_file_gives_the_ranges_and_the_command_line_adds_to_them(tmp_path, tiny):
    path = tmp_path / "s.toml"
    path.write_text('preset = "tiny.toml"\ntrials = 5\nprune = "asha"\n[param]\n"train.eta" = "log:0.01..1"\n')
    loaded = search.load_file(path)
    assert loaded.preset == str(tiny) and loaded.trials == 5 and loaded.prune == "asha"
    assert loaded.params == (search.Param("train.eta", 0.01, 1.0, log=True),)
    assert search.parse_param("train.activation=relu,sigmoid").choices == ("relu", "sigmoid")
    assert search.parse_param("layers[1].n_out=int:4..16") == search.Param("layers[1].n_out", 4, 16, integer=True)


def test_pruned_trials_are_stored_with_their_partial_epochs(run_cli, tiny, tmp_path):
    result = run_cli(
        "search", tiny, *PARAMS, "--trials", "4", "--prune", "asha", "--seed", "3", "--train-limit", "200",
        "--workers", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    store = Store(tmp_path / "convlab.sqlite")
    pruned = [r for r in store.runs() if r.status == "pruned"]
    assert pruned and all(r.epochs_done == 1 and r.epochs_planned == 2 for r in pruned)
    for run in pruned:  # the epochs it trained, and its checkpoint at the last of them
        assert [e.epoch for e in store.epochs(run.id)] == [1] and store.checkpoint(run.id)[0] == 1
        assert store.predictions(run.id) is None  # never finished: no test predictions
    assert f"run {pruned[0].id} pruned after epoch 1" in result.stdout
    record, rows = sweep.table(store, 1)
    assert record["search"]["prune"] == "asha" and record["status"] == "finished" and len(rows) == 4
    assert {row.status for row in rows} <= {"finished", "pruned at epoch 1"}
    best = max((r for r in store.runs() if r.status == "finished"), key=lambda r: (r.best_val, -r.id))
    assert "best trial" in result.stdout and f"(run {best.id}): validation {best.best_val:.2f}%" in result.stdout

    runs = run_cli("runs").stdout
    assert any(line.split()[:2] == [str(pruned[0].id), "pruned"] and "1/2" in line for line in runs.splitlines())
    compared = run_cli("compare", "--no-curves").stdout.splitlines()  # each trial a row, pruned ones so
    assert sum(line.split().count("pruned") for line in compared) == len(pruned)
    table = run_cli("compare", "--sweep", "1").stdout.splitlines()
    assert table[0].startswith("search 1: tiny, train.eta log:0.001..1, train.lmbda 0..5; 4 trials, tpe, asha")
    assert table[1].split()[:2] == ["train.eta", "train.lmbda"] and "pruned at epoch 1" in "\n".join(table)
    exported = json.loads(run_cli("export", "--sweep", "1", "--format", "json").stdout)
    assert [r["status"] for r in exported["rows"]] == [row.status for row in rows]
    assert [r["train.eta"] for r in exported["rows"]] == [row.fields["train.eta"] for row in rows]
    pivot = run_cli("export", "--sweep", "1", "--format", "csv", "--pivot", "train.lmbda").stdout.splitlines()
    assert pivot[0].startswith("train.lmbda,runs,n,best_run") and len(pivot) == 5
    assert_user_error(run_cli("run", "--resume", str(pruned[0].id)), "pruned trial is final")
    assert_user_error(run_cli("sweep", "--resume", "1"), "continue it with `convlab search --resume 1`")


def test_a_trial_that_diverges_is_stored_so_and_the_search_goes_on(run_cli, tmp_path):
    """η = 100 on a linear network makes the loss NaN: that trial ends 'diverged'
    (nothing NaN stored), the next trials train, and the best is a finished one."""
    (tmp_path / "linear.toml").write_text(
        toml_text([{"type": "fc", "n_out": 30}, {"type": "softmax"}], {"epochs": 2, "activation": "linear"}, name="lin")
    )
    result = run_cli(
        "search", "linear.toml", "--param", "train.eta=0.01,100", "--trials", "4", "--sampler", "random",
        "--seed", "2", "--train-limit", "1000", "--workers", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    store = Store(tmp_path / "convlab.sqlite")
    _, rows = sweep.table(store, 1)
    statuses = {row.fields["train.eta"]: row.status for row in rows}
    assert statuses == {100: "diverged", 0.01: "finished"} and len(rows) == 4
    for run in store.runs():
        assert (run.status == "diverged") == (run.config["train"]["eta"] == 100)
        if run.status == "diverged":
            assert store.epochs(run.id) == [] and "NaN" in run.error
    assert "diverged" in run_cli("compare", "--sweep", "1").stdout
    assert "train.eta=0.01" in result.stdout.splitlines()[-1]  # the best trial


@pytest.mark.slow
def test_sigterm_then_resume_continues_the_same_trial_sequence(tmp_path, tiny, single_thread):
    """The reference search runs here, uninterrupted; the same search in the CLI
    is stopped by SIGTERM during its second trial and resumed."""
    definition = search.Search(str(tiny), tuple(map(search.parse_param, PARAMS[1::2])), 4, "tpe", "median", seed=5)
    changes = {"train_limit": 200, "epochs": 3}
    here = Store(tmp_path / "here.sqlite")
    runner = Runner(here, device="cpu", data_dir=str(DATA), workers=1)
    reference = _trials(here, search.start(here, runner, definition, changes, 1, say=lambda s: None))

    path = tmp_path / "cli.sqlite"
    args = ("search", tiny, *PARAMS, "--trials", "4", "--seed", "5", "--epochs", "3", "--train-limit", "200")
    proc = subprocess.Popen(
        cli_command(*args, "--workers", "1", "--store", path),
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    store, end = Store(path), time.monotonic() + 120
    while len(store.runs()) < 2 or store.runs()[0].epochs_done < 1:
        assert time.monotonic() < end and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and "convlab search --resume 1" in err
    assert store.sweep(1)["status"] == "interrupted" and len(store.sweep_points(1)) < 4
    assert "interrupted" in {r.status for r in store.runs()}  # stopped within a trial, which resumes

    resumed = subprocess.run(
        cli_command("search", "--resume", "1", "--workers", "1", "--store", path),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert _trials(store, 1) == reference  # the same values, in the same order, ending alike
    assert "best trial" in resumed.stdout
    again = subprocess.run(cli_command("search", "--resume", "1", "--store", path), env=cli_env(), capture_output=True)
    assert again.returncode == 2 and b"already finished" in again.stderr


def test_an_older_store_gains_the_search_column(tmp_path):
    path = tmp_path / "v6.sqlite"
    db = sqlite3.connect(path)
    db.executescript(schema.SCHEMA.replace("finished REAL,\n    search TEXT", "finished REAL"))
    db.execute("INSERT INTO sweeps (preset, axes, seed, created) VALUES ('relu', '[[\"train.lmbda\", [0, 1]]]', 1, 0)")
    db.execute("PRAGMA user_version=6")
    db.commit()
    db.close()
    store = Store(path)
    assert store.sweep(1)["search"] is None and store.sweep(1)["axes"] == [["train.lmbda", [0, 1]]]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == schema.VERSION == 7
    assert (tmp_path / "v6.sqlite.v6.bak").exists()
