"""The CLI under bad input and faults: one line, the right exit status, and a
store that holds what it held (or, for a run that diverged, says so)."""

from __future__ import annotations

import sqlite3

from helpers import assert_user_error, toml_text
from convlab.store import Store

DIVERGES = toml_text([{"type": "fc", "n_out": 30}, {"type": "softmax"}],
                     {"epochs": 3, "eta": 100, "activation": "linear"}, name="too-fast")


def test_a_run_whose_loss_becomes_nan_stops_as_diverged(tmp_path, run_cli):
    (tmp_path / "fast.toml").write_text(DIVERGES)
    result = run_cli("run", "fast.toml", "--train-limit", "1000", "--seed", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convlab: run 1 diverged: the training loss became NaN")
    assert "η = 100 is likely too large" in lines[0] and "epoch 1" in lines[0]
    with Store(tmp_path / "convlab.sqlite") as store:
        run = store.run(1)
        assert run.status == "diverged" and "η = 100" in run.error
        assert store.epochs(1) == [] and store.checkpoint(1) is None  # nothing NaN was stored
    assert "diverged" in run_cli("runs").stdout
    assert_user_error(run_cli("run", "--resume", "1"), "run 1 diverged", "would diverge again")


def test_a_run_that_fails_before_it_starts_leaves_no_empty_group(tmp_path, run_cli):
    assert_user_error(run_cli("run", "shallow", "--train-limit", "5", "--repeats", "1"), "--train-limit 5")
    db = sqlite3.connect(tmp_path / "convlab.sqlite")
    assert db.execute("SELECT count(*) FROM groups").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM runs").fetchone() == (0,)
