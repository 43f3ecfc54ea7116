"""`convlab sweep`: the grid from --set and from a sweep file, validated as
presets are; a small sweep end to end in the real store with two workers;
`compare --sweep` / `export --sweep` with the swept fields as columns and the
pivot; an interrupted sweep resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from convlab.results.report import mean_sd
from convlab.runs import sweep
from convlab.store import Store

from helpers import assert_user_error, cli_command, cli_env, toml_text

TINY = [{"type": "conv_pool", "maps": 2}, {"type": "fc", "n_out": 8}, {"type": "softmax", "n_out": 10}]


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(toml_text(TINY, {"activation": "relu", "epochs": 1, "eta": 0.1, "repeats": 3}, name="tiny"))
    return path


def test_the_grid_is_every_combination_validated_like_a_preset(tiny):
    grid = sweep.points(
        sweep.Sweep(str(tiny), (sweep.parse_set("train.lmbda=0,0.5"), sweep.parse_set("layers[1].n_out=4,16,32")))
    )
    assert [f for f, _ in grid] == [{"train.lmbda": l, "layers[1].n_out": n} for l in (0, 0.5) for n in (4, 16, 32)]
    spec = grid[-1][1]
    assert spec.train.lmbda == 0.5 and spec.layers[1].n_out == 32
    assert spec.layers[2].in_shape == (32,)  # shapes inferred again after the change
    assert spec.train.repeats == 1  # a sweep explores: one run per point unless asked


def test_the_shipped_relu_lambda_sweep():
    definition = sweep.load_file(sweep.sweep_file("relu-lambda"))  # shipped as package data
    grid = sweep.points(definition)
    assert [s.train.lmbda for _, s in grid] == [0, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100]
    assert {s.name for _, s in grid} == {"relu"} and {s.train.eta for _, s in grid} == {0.03}


@pytest.mark.parametrize(
    "axis, fragment",
    [
        ("train.lmbdaa=1", "train.lmbdaa is not a known field; did you mean 'lmbda'?"),
        ("train.lmbda=0,-1", "train.lmbda is -1; it must be a number from 0 to 1,000,000"),
        ("layers[7].n_out=10", "has 3 layers"),
        ("train.activation=relu,swish", "train.activation is 'swish'"),
        ("lmbda", "give FIELD=V1,V2"),
    ],
)
def test_a_bad_field_or_value_is_one_line_and_stores_nothing(run_cli, tiny, tmp_path, axis, fragment):
    assert_user_error(run_cli("sweep", tiny, "--set", axis, "--workers", "1"), fragment)
    store = Store(tmp_path / "convlab.sqlite")
    assert store.runs() == [] and store.sweeps() == []


def test_a_sweep_end_to_end_with_two_workers(run_cli, tiny, tmp_path):
    result = run_cli(
        "sweep",
        tiny,
        "--set",
        "train.lmbda=0,1",
        "--set",
        "layers[1].n_out=4,16",
        "--repeats",
        "2",
        "--train-limit",
        "100",
        "--seed",
        "7",
        "--workers",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert "sweep 1: tiny, train.lmbda (2) × layers[1].n_out (2)" in result.stdout
    store = Store(tmp_path / "convlab.sqlite")
    record, rows = sweep.table(store, 1)
    assert len(rows) == 4 and all(row.status == "finished" and len(row.runs) == 2 for row in rows)
    for row in rows:  # each point trained its own fields, from the same seeds
        for run in row.runs:
            assert run.config["train"]["lmbda"] == row.fields["train.lmbda"]
            assert run.config["layers"][1]["n_out"] == row.fields["layers[1].n_out"]
        assert sorted(r.seed for r in row.runs) == [7, 8]

    table = run_cli("compare", "--sweep", "1").stdout.splitlines()
    assert table[1].split()[:2] == ["train.lmbda", "layers[1].n_out"]
    pivot = run_cli("compare", "--sweep", "1", "--pivot", "train.lmbda").stdout.splitlines()
    assert len(pivot) == 4  # title, header, λ = 0, λ = 1
    for line, value in zip(pivot[2:], (0, 1)):
        runs = [r for row in rows if row.fields["train.lmbda"] == value for r in row.runs]
        mean, sd = mean_sd([r.test_at_best for r in runs])
        best = max(runs, key=lambda r: (r.best_val, -r.id))
        assert line.split()[0] == str(value) and f"{mean:.2f} ± {sd:.2f}" in line
        assert f"{best.test_at_best:.2f}" in line and line.split()[-1] == "finished"

    exported = json.loads(run_cli("export", "--sweep", "1", "--pivot", "layers[1].n_out", "--format", "json").stdout)
    assert [r["layers[1].n_out"] for r in exported["rows"]] == [4, 16] and all(r["n"] == 4 for r in exported["rows"])
    csv = run_cli("export", "--sweep", "1", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("train.lmbda,layers[1].n_out,runs,n,best_run") and len(csv) == 5
    assert_user_error(
        run_cli("compare", "--sweep", "1", "--pivot", "train.eta"), "--pivot train.eta: not a swept field"
    )
    assert_user_error(run_cli("compare", "--sweep", "9"), "sweep 9 does not exist")

    # runs and compare: the points' swept fields are columns, so their rows tell apart (#21 item 5)
    listed = run_cli("runs").stdout.splitlines()
    assert listed[0].split()[:5] == ["run", "status", "preset", "lmbda", "layers[1].n_out"]
    by_id = {line.split()[0]: line.split() for line in listed[1:] if line[:1].strip()}
    for row in rows:
        for run in row.runs:
            assert by_id[str(run.id)][3:5] == [str(row.fields["train.lmbda"]), str(row.fields["layers[1].n_out"])]
    compared = run_cli("compare", "--no-curves").stdout.splitlines()
    assert compared[0].split()[:4] == ["#", "preset", "lmbda", "layers[1].n_out"]
    assert sorted(tuple(line.split()[2:4]) for line in compared[1:5]) == [
        ("0", "16"),
        ("0", "4"),
        ("1", "16"),
        ("1", "4"),
    ]


def test_an_interrupted_sweep_resumes(tmp_path, tiny):
    store_path = tmp_path / "runs.sqlite"
    args = (
        "sweep",
        tiny,
        "--set",
        "train.eta=0.1,0.2,0.3",
        "--epochs",
        "4",
        "--train-limit",
        "500",
        "--seed",
        "2",
        "--workers",
        "1",
        "--store",
        store_path,
    )
    proc = subprocess.Popen(
        cli_command(*args), cwd=tmp_path, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    store = Store(store_path)
    end = time.monotonic() + 120
    while not store.runs() or store.runs()[-1].epochs_done < 1:
        assert time.monotonic() < end
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and "convlab sweep --resume 1" in err
    before = {r.id: (r.status, r.epochs_done) for r in store.runs()}
    assert "interrupted" in {s for s, _ in before.values()}
    done = subprocess.run(
        cli_command("sweep", "--resume", "1", "--workers", "1", "--store", store_path),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    _, rows = sweep.table(store, 1)
    assert [row.fields["train.eta"] for row in rows] == [0.1, 0.2, 0.3]
    assert all(row.status == "finished" and row.runs[0].epochs_done == 4 for row in rows)
    assert {r.id for row in rows for r in row.runs} >= set(before)  # the interrupted run continued, not replaced
    again = subprocess.run(
        cli_command("sweep", "--resume", "1", "--store", store_path),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "already finished" in again.stderr
