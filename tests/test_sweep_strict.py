"""Sweeps as strict as runs (issue 22, items 3–7): a sweep file or base preset
that is not UTF-8, not TOML or nested too deeply, repeats and seeds out of
range, a grid too large: one line, exit 2, nothing stored. A sweep that fails
before its first run leaves no row; one whose process was killed is
interrupted; a second resume of a sweep being trained creates nothing."""

from __future__ import annotations

import subprocess
import time

import pytest

from convlab.runs import sweep
from convlab.store import Store

from helpers import assert_user_error, cli_command, cli_env, toml_text

TINY = [{"type": "conv_pool", "maps": 2}, {"type": "fc", "n_out": 8}, {"type": "softmax", "n_out": 10}]
GRID = '[set]\n"train.lmbda" = [0, 0.1]\n'


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(toml_text(TINY, {"activation": "relu", "epochs": 1, "eta": 0.1, "repeats": 1}, name="tiny"))
    return path


def nothing_stored(store_path) -> bool:
    if not store_path.exists():
        return True
    with Store(store_path) as store:
        return (
            store.runs() == []
            and store.sweeps() == []
            and store.db.execute("SELECT COUNT(*) FROM groups").fetchone()[0] == 0
        )


SWEEP_FILES = {
    "binary": (b"\xfb\x00\xff" * 100, "not UTF-8"),
    "nested": (('[set]\n"train.lmbda" = ' + "[" * 3000 + "]" * 3000 + "\n").encode(), "nested too deeply"),
    "base not TOML": (b'preset = "base.toml"\n' + GRID.encode(), "base.toml: not valid TOML"),
    "base is /etc/passwd": (b'preset = "/etc/passwd"\n' + GRID.encode(), "passwd"),
    "train = 5": (b'preset = "five.toml"\n' + GRID.encode(), "five.toml: train is not a table"),
    "layers = 5": (b'preset = "layers.toml"\n[set]\n"layers[0].maps" = [2]\n', "layers.toml: layers is not a list"),
}


@pytest.mark.parametrize("case", SWEEP_FILES)
def test_a_bad_sweep_file_or_base_preset_is_one_line(run_cli, tmp_path, case):
    content, fragment = SWEEP_FILES[case]
    (tmp_path / "base.toml").write_text("this is = not = toml\n")
    (tmp_path / "five.toml").write_text('name = "five"\ntrain = 5\n')
    (tmp_path / "layers.toml").write_text('name = "layers"\nlayers = 5\n')
    (tmp_path / "sw.toml").write_bytes(content)
    assert_user_error(run_cli("sweep", "sw.toml"), fragment)
    assert nothing_stored(tmp_path / "convlab.sqlite")


def test_a_base_preset_given_directly_is_read_as_run_reads_it(run_cli, tmp_path):
    (tmp_path / "five.toml").write_text('name = "five"\ntrain = 5\n')
    assert_user_error(run_cli("sweep", "five.toml", "--set", "train.lmbda=0"), "five.toml: train is not a table")
    assert_user_error(run_cli("sweep", "/etc/passwd", "--set", "train.lmbda=0"), "passwd")
    deep = "[" * 3000 + "]" * 3000
    assert_user_error(run_cli("sweep", "five.toml", "--set", f"train.lmbda={deep}"), "--set")
    assert nothing_stored(tmp_path / "convlab.sqlite")


@pytest.mark.parametrize(
    "line, fragment",
    [
        ('repeats = "x"', "repeats 'x': must be a whole number from 1 to 1,000"),
        ("repeats = nan", "repeats nan: must be a whole number from 1 to 1,000"),
        ("repeats = -3", "repeats -3: must be a whole number from 1 to 1,000"),
        ("repeats = 100000", "repeats 100000: must be a whole number from 1 to 1,000"),
        ("seed = 1.5", "seed 1.5: must be a whole number from 0 to 4,294,967,295"),
        ("seed = -1", "seed -1: must be a whole number from 0 to 4,294,967,295"),
        ("seed = 100000000000000000000000", "seed a 24-digit number: must be a whole number"),
    ],
)
def test_a_sweep_files_repeats_and_seed_have_runs_ranges(run_cli, tmp_path, tiny, line, fragment):
    (tmp_path / "sw.toml").write_text(f'preset = "tiny.toml"\n{line}\n{GRID}')
    assert_user_error(run_cli("sweep", "sw.toml"), "sw.toml: " + fragment)
    assert nothing_stored(tmp_path / "convlab.sqlite")


@pytest.mark.parametrize(
    "options, fragment",
    [
        (("--seed", str(10**23)), "--seed a 24-digit number"),
        (("--repeats", "100000"), "--repeats 100000: must be a whole number from 1 to 1,000"),
        (("--epochs", "99999999999"), "--epochs 99999999999: must be a whole number from 1 to 10,000"),
    ],
)
def test_sweep_options_have_runs_ranges(run_cli, tmp_path, tiny, options, fragment):
    assert_user_error(run_cli("sweep", tiny, "--set", "train.lmbda=0,1", *options), fragment)
    assert nothing_stored(tmp_path / "convlab.sqlite")


def test_a_grid_above_the_limit_is_refused_before_anything(run_cli, tmp_path, tiny):
    values = ",".join(str(i / 1000) for i in range(300))
    axes = [a for f in ("train.lmbda", "train.eta", "layers[1].n_out") for a in ("--set", f"{f}={values}")]
    result = run_cli("sweep", tiny, *axes, timeout=120)
    assert_user_error(result, "300 × 300 × 300 = 27,000,000 points", f"above {sweep.MAX_POINTS:,}")
    assert nothing_stored(tmp_path / "convlab.sqlite")
    # at the limit it is a grid (validated point by point)
    at_limit = sweep.Sweep(str(tiny), (sweep.parse_set("train.lmbda=" + ",".join(map(str, range(sweep.MAX_POINTS)))),))
    assert len(sweep.points(at_limit)) == sweep.MAX_POINTS


@pytest.mark.parametrize(
    "options",
    [("--data-dir", "no-such-folder"), ("--train-limit", "5")],
    ids=["missing data", "train-limit below a mini-batch"],
)
def test_a_sweep_that_fails_before_its_first_run_leaves_nothing(run_cli, tmp_path, tiny, options):
    result = run_cli("sweep", tiny, "--set", "train.lmbda=0,1", "--workers", "1", *options)
    assert_user_error(result)
    assert nothing_stored(tmp_path / "convlab.sqlite")
    assert "no sweeps" in run_cli("sweep", "--list").stdout
    assert_user_error(run_cli("sweep", "--resume", "1"), "sweep 1 does not exist")


def start_and_kill(tmp_path, tiny, store_path) -> None:
    """A sweep of three points, its parent SIGKILLed once its first epoch is stored."""
    args = ("sweep", tiny, "--set", "train.eta=0.1,0.2,0.3", "--epochs", "3", "--train-limit", "300")
    proc = subprocess.Popen(
        cli_command(*args, "--seed", "2", "--workers", "1", "--store", store_path),
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 240
    while not store_path.exists() or not Store(store_path).runs() or Store(store_path).runs()[-1].epochs_done < 1:
        assert time.monotonic() < end and proc.poll() is None
        time.sleep(0.2)
    proc.kill()
    proc.wait()


def test_a_killed_sweep_is_interrupted_and_a_second_resume_creates_nothing(tmp_path, tiny):
    store_path = tmp_path / "runs.sqlite"
    start_and_kill(tmp_path, tiny, store_path)
    with Store(store_path) as store:
        assert store.sweep(1)["status"] == "interrupted"
    listed = subprocess.run(
        cli_command("sweep", "--list", "--store", store_path), env=cli_env(), capture_output=True, text=True
    )
    assert listed.stdout.splitlines()[1].split()[3] == "interrupted"

    # while another process holds the sweep (a first resume), a second creates nothing
    holder = Store(store_path)
    assert holder.hold_sweep(1)
    holder.mark_stale()
    before = [(r.id, r.status, r.epochs_done) for r in holder.runs()]
    second = subprocess.run(
        cli_command("sweep", "--resume", "1", "--workers", "1", "--store", store_path),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_user_error(second, "sweep 1 is being trained by another process")
    assert [(r.id, r.status, r.epochs_done) for r in Store(store_path).runs()] == before
    holder.close()

    done = subprocess.run(
        cli_command("sweep", "--resume", "1", "--workers", "1", "--store", store_path),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with Store(store_path) as store:
        assert store.sweep(1)["status"] == "finished"
        _, rows = sweep.table(store, 1)
        assert all(row.status == "finished" and [r.member for r in row.runs] == [0] for row in rows)
