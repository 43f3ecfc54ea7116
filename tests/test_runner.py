"""What the runner guarantees to every command that trains (run, sweep,
reproduce): a group is one process's while it trains (its lock, as `run
--resume` has always taken it), and MNIST is read once per command.

Real components: the real store and its lock files, a second real process
holding a group's lock, the real CLI (in a subprocess, or in this process
where the MNIST reads are counted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from convlab.cli import main
from convlab.data import mnist as mnist_data
from convlab.runs import events, reproduce, sweep
from convlab.runs.runner import Runner
from convlab.store import Store, liveness

from helpers import DATA, assert_user_error, cli_command, cli_env, toml_text

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = [{"type": "conv_pool", "maps": 2}, {"type": "softmax", "n_out": 10}]
TRAIN = {"activation": "relu", "epochs": 1, "eta": 0.1, "batch_size": 10}


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(toml_text(TINY, {**TRAIN, "repeats": 2}, name="tiny"))
    return path


@pytest.fixture
def tiny_presets(tmp_path, monkeypatch) -> Path:
    """The chapter's presets replaced by two tiny ones (one an ensemble), here and in the CLIs started."""
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "tiny.toml").write_text(toml_text(TINY, {**TRAIN, "repeats": 2}, name="tiny", row=1))
    (folder / "tiny-vote.toml").write_text(toml_text(TINY, {**TRAIN, "ensemble": 3}, name="tiny-vote", row=2))
    monkeypatch.setenv("CONVLAB_SHIPPED_PRESETS", str(folder))
    return folder


class HeldElsewhere:
    """A second process holding the lock of group `group_id` of the store, until closed."""

    def __init__(self, store_path: Path, group_id: int):
        code = (
            "import sys; from convlab.store import liveness; "
            f"lock = liveness.acquire({str(store_path)!r}, 'group-{group_id}'); "
            "print('held' if lock else 'refused', flush=True); sys.stdin.read()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=cli_env()
        )
        assert self.proc.stdout.readline().strip() == "held"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def cli(*args, cwd: Path, env: dict | None = None):
    return subprocess.run(
        cli_command(*args), cwd=cwd, env=env or cli_env(), capture_output=True, text=True, timeout=300
    )


# ---------------------------------------------------------------- the group lock


def _watch_locks(store: Store, seen: list):
    """An emit that notes, at each run's start, whether its group's lock is held."""

    def emit(event) -> None:
        if isinstance(event, events.Started):
            seen.append((event.group, liveness.held(store.path, f"group-{event.group}")))

    return emit


def test_a_sweep_holds_each_point_while_it_trains(tmp_path, tiny):
    seen: list = []
    with Store(tmp_path / "s.sqlite") as store:
        runner = Runner(store, device="cpu", data_dir=str(DATA), workers=1, emit=_watch_locks(store, seen))
        definition = sweep.Sweep(str(tiny), (sweep.parse_set("train.lmbda=0,1"),), repeats=1, seed=3)
        sweep.start(store, runner, definition, {"train_limit": 100})
        assert sorted(seen) == [(1, True), (2, True)]
        assert not any(liveness.held(store.path, f"group-{g}") for g in (1, 2))  # released when it ended


def test_a_reproduction_holds_each_preset_while_it_trains(tmp_path, tiny_presets):
    seen: list = []
    with Store(tmp_path / "s.sqlite") as store:
        specs = reproduce.plan(quick=True, train_limit=100)
        reproduce.run(
            store, specs, quick=True, seed=5, device="cpu", data_dir=str(DATA), emit=_watch_locks(store, seen),
            say=lambda text: None, workers=1,
        )  # fmt: skip
        assert {g for g, _ in seen} == {1, 2} and all(held for _, held in seen)
        assert not any(liveness.held(store.path, f"group-{g}") for g in (1, 2))


def test_sweep_resume_is_refused_while_another_process_trains_a_point(tmp_path, tiny):
    """An interrupted sweep (its points' groups recorded, nothing trained yet)
    whose second point another process holds: `sweep --resume` refuses in one
    line, as `run --resume` does, and trains nothing; once free, it completes."""
    path = tmp_path / "s.sqlite"
    definition = sweep.Sweep(str(tiny), (sweep.parse_set("train.lmbda=0,1"),), repeats=1)
    with Store(path) as store:
        sweep_id = store.create_sweep("tiny", [["train.lmbda", [0, 1]]], 7)
        for i, (fields, spec) in enumerate(sweep.points(definition, {"train_limit": 100})):
            store.add_sweep_point(sweep_id, i, fields, store.create_group(spec))
    holder = HeldElsewhere(path, 2)
    try:
        result = cli("sweep", "--resume", sweep_id, "--workers", "1", "--store", path, cwd=tmp_path)
    finally:
        holder.close()
    assert_user_error(result, f"sweep {sweep_id} is being trained by another process")
    with Store(path) as store:
        assert store.runs() == []
        assert not liveness.held(path, "group-1")  # what it held before the refusal is let go
    done = cli("sweep", "--resume", sweep_id, "--workers", "1", "--store", path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Store(path) as store:
        assert [r.status for r in store.runs()] == ["finished", "finished"]


def test_reproduce_is_refused_while_another_process_trains_a_preset(tmp_path, tiny_presets):
    """A reproduction whose first preset's group was interrupted, and is now
    held by another process: running the same `reproduce` again refuses in one
    line before it creates or trains anything."""
    path = tmp_path / "s.sqlite"
    specs = reproduce.plan(quick=True, train_limit=100)
    with Store(path) as store:
        rep, _ = reproduce.Reproduction.open(store, specs, quick=True, seed=5)
        group_id = store.create_group(specs[0])
        rep.record(specs[0].name, group_id)
        run_id = store.create_run(specs[0], group_id=group_id, seed=5, device="cpu")
        store.finish(run_id, "interrupted", error="stopped by request")
    env = {**cli_env(), "CONVLAB_SHIPPED_PRESETS": str(tiny_presets)}
    args = ("reproduce", "--quick", "--train-limit", "100", "--workers", "1", "-o", "out.html", "--store", path)
    holder = HeldElsewhere(path, group_id)
    try:
        result = cli(*args, cwd=tmp_path, env=env)
    finally:
        holder.close()
    assert_user_error(result, f"run {run_id}: its group is being trained by another process")
    with Store(path) as store:
        assert [r.id for r in store.runs()] == [run_id] and store.run(run_id).status == "interrupted"
        assert store.db.execute("SELECT count(*) FROM groups").fetchone()[0] == 1  # no group created for tiny-vote


# ---------------------------------------------------------------- MNIST read once


@pytest.fixture
def mnist_reads(monkeypatch) -> list[str]:
    """The names of the MNIST files read (and checked) from here on, in this process."""
    reads: list[str] = []
    read = mnist_data._read_checked

    def counted(folder, name, expected):
        reads.append(name)
        return read(folder, name, expected)

    monkeypatch.setattr(mnist_data, "_read_checked", counted)
    return reads


@pytest.mark.parametrize(
    "command",
    [
        ("run", "TINY", "--repeats", "2"),
        ("run", "tiny-vote"),  # an ensemble: the vote reads the test labels too
        ("sweep", "TINY", "--set", "train.lmbda=0,1"),
        ("reproduce", "--quick", "-o", "OUT"),
    ],
)
def test_a_command_reads_mnist_once(tmp_path, tiny, tiny_presets, mnist_reads, capsys, command):
    """The real command in this process, training here (one worker): each of
    the four MNIST files is read once, however many groups, runs and votes it has."""
    args = [str(tiny) if a == "TINY" else str(tmp_path / "out.html") if a == "OUT" else a for a in command]
    code = main([*args, "--train-limit", "100", "--workers", "1", "--seed", "1", "--store", str(tmp_path / "s.sqlite")])
    assert code == 0, capsys.readouterr().err
    assert sorted(mnist_reads) == sorted(mnist_data.FILES.values())
