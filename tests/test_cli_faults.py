"""The CLI under bad input and faults: one line, the right exit status, and a
store that holds what it held (or, for a run that diverged, says so)."""

from __future__ import annotations

import sqlite3

from convlab.store import Store

from helpers import assert_user_error, toml_text

DIVERGES = toml_text(
    [{"type": "fc", "n_out": 30}, {"type": "softmax"}],
    {"epochs": 3, "eta": 100, "activation": "linear"},
    name="too-fast",
)


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


def test_run_options_out_of_range_are_one_line(tmp_path, run_cli, record_property):
    cases = (
        (("--threads", "100000"), "--threads 100000: must be a whole number from 1 to 1,024"),
        (("--threads", "0"), "--threads 0: must be a whole number from 1 to 1,024"),
        (("--seed", "99999999999999999999"), "--seed 99999999999999999999: must be a whole number from 0 to"),
        (("--seed", "-1"), "--seed -1: must be a whole number from 0 to 4,294,967,295"),
        (("--epochs", str(2**63 - 1)), "--epochs 9223372036854775807: must be a whole number from 1 to 10,000"),
        (("--repeats", "100000"), "--repeats 100000: must be a whole number from 1 to 1,000"),
        (("--train-limit", "10000000"), "--train-limit 10000000: must be a whole number from 0 to 250,000"),
    )
    for args, fragment in cases:
        assert_user_error(run_cli("run", "shallow", *args), fragment)
    record_property("cases", len(cases))
    assert not (tmp_path / "convlab.sqlite").exists() or sqlite3.connect(tmp_path / "convlab.sqlite").execute(
        "SELECT count(*) FROM runs"
    ).fetchone() == (0,)


def test_long_names_and_control_characters_in_cli_tables(tmp_path, run_cli, record_property):
    """A 100,000-character name is cut with an ellipsis; escape sequences and
    a right-to-left override reach the terminal as visible escapes."""
    from convlab.config.spec import parse_text

    long_name, sneaky = "n" * 100_000, "evil\x1b[2J\u202egnp.exe"
    with Store(tmp_path / "convlab.sqlite") as store:
        for name in (long_name, sneaky):
            spec = parse_text(toml_text([{"type": "fc", "n_out": 30}, {"type": "softmax"}], None, name=name))
            store.finish(store.create_run(spec, group_id=None), "failed", error=f"{name} broke")
    for args in (("runs",), ("compare",), ("show", "2")):
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "\x1b" not in out and "\u202e" not in out and "evil\\x1b[2J\\u202egnp.exe" in out, args
        assert max(map(len, out.splitlines())) < 400 or args[0] == "show", args
    runs = run_cli("runs").stdout
    assert "n" * 39 + "…" in runs and "n" * 41 not in runs
    (tmp_path / "bad.toml").write_text(toml_text([{"type": "nope"}], None, name="x"), encoding="utf-8")
    (tmp_path / "evil\x1b[31m.toml").write_text("name = 1\n")
    assert_user_error(run_cli("run", "evil\x1b[31m.toml"), "evil\\x1b[31m.toml: name is 1; it must be a string")
    record_property("cases", 4)


def test_bad_options_are_one_line(run_cli, record_property):
    assert_user_error(
        run_cli("run", "shallow", "--epochs", "many"),
        "convlab run: argument --epochs: invalid int",
        "`convlab run --help` lists the options",
    )
    assert_user_error(run_cli("show"), "the following arguments are required: RUN")
    assert_user_error(run_cli("frobnicate"), "invalid choice: 'frobnicate'")
    record_property("cases", 3)


def test_batched_members_that_diverge_stop_as_diverged(tmp_path, run_cli):
    """Members trained as one batched model are checked too (once an epoch):
    none 'finishes' at chance, and nothing NaN is stored."""
    (tmp_path / "fast.toml").write_text(DIVERGES)
    result = run_cli("run", "fast.toml", "--train-limit", "1000", "--seed", "1", "--repeats", "2", "--batch-members")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "diverged: the training loss became NaN" in result.stderr
    with Store(tmp_path / "convlab.sqlite") as store:
        for run in store.runs():
            assert run.status == "diverged" and "η = 100" in run.error
            assert store.epochs(run.id) == [] and store.checkpoint(run.id) is None
