"""Shared test helpers (conftest.py imports the fixtures): the real MNIST (loaded once), small
slices of it as engine tensors, a TOML writer and a runner for the real CLI.

Everything here uses the real components: the shipped data/mnist files, a
real SQLite store under tmp_path, and `python -m convlab` in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "mnist"
# The golden fixtures (../shared/fixtures, from an implementation independent
# of convlab) travel with the tests, so a checkout alone pins the engine to them.
FIXTURES = Path(__file__).resolve().parent / "golden"
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"  # the source, where it is beside us


# ---------------------------------------------------------------- threads


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread while a module's tests train (restored afterwards).

    On a small shared machine two intra-op threads that compete with another
    busy process slow the book's tiny mini-batches of 10 down many times over;
    one thread is about as fast when the machine is idle. CLI subprocesses get
    the same through OMP_NUM_THREADS (see cli_env)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- the user's folders


@pytest.fixture(scope="session", autouse=True)
def private_user_folders(tmp_path_factory):
    """The default store and saved presets (the platform's user data folder)
    go under a temporary folder, for this process and the CLIs it starts."""
    before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("user-data"))
    yield
    if before is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = before


# ---------------------------------------------------------------- data


@pytest.fixture(scope="session")
def mnist():
    """The book's split of the shipped MNIST, checksums verified (once per session)."""
    from convlab.data.mnist import load_mnist

    return load_mnist(DATA)


@pytest.fixture
def mnist_copy(tmp_path) -> Path:
    """A private copy of data/mnist that a test may truncate, alter or delete."""
    target = tmp_path / "mnist"
    shutil.copytree(DATA, target)
    return target


def small_tensors(mnist, n_train: int, n_eval: int):
    """engine.Tensors from the first n_train training images and the first
    n_eval validation and test images (a cheap stand-in for `prepare`)."""
    import torch

    from convlab.book.trainer import Tensors
    from convlab.data.mnist import Split, to_device

    cpu = torch.device("cpu")

    def cut(split, n):
        return Split(split.images[:n], split.labels[:n])

    return Tensors(
        *to_device(cut(mnist.train, n_train), cpu),
        *to_device(cut(mnist.validation, n_eval), cpu),
        *to_device(cut(mnist.test, n_eval), cpu),
    )


# ---------------------------------------------------------------- presets


def epoch_event(epoch: int, val: float, **fields):
    """An epoch as the trainer reports it: by default a new best, no test
    accuracy yet, 1 s, η 0.03; `fields` set the rest (filters, checkpoint, …)."""
    from convlab.runs import events

    defaults = dict(
        epoch=epoch, train_loss=1.0 / epoch, val_acc=val, test_acc=None, best_val=val, best_epoch=epoch,
        test_at_best=None, seconds=1.0, learning_rate=0.03,
    )  # fmt: skip
    return events.Epoch(**{**defaults, **fields})


def toml_text(layers: list[dict], train: dict | None = None, name: str = "test-net", **top) -> str:
    """A preset as TOML text: `layers` are [[layers]] tables, `train` the [train] table."""

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v)

    lines = [f"name = {value(name)}"] + [f"{k} = {value(v)}" for k, v in top.items()]
    lines += ["", "[train]"] + [f"{k} = {value(v)}" for k, v in (train or {}).items()]
    for layer in layers:
        lines += ["", "[[layers]]"] + [f"{k} = {value(v)}" for k, v in layer.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def write_toml(tmp_path):
    """write_toml(name, layers, train=None, **top) -> Path of a TOML file in tmp_path."""

    def write(filename: str, layers: list[dict], train: dict | None = None, **top) -> Path:
        path = tmp_path / filename
        path.write_text(toml_text(layers, train, **top), encoding="utf-8")
        return path

    return write


# ---------------------------------------------------------------- the CLI


@dataclass
class CLIResult:
    returncode: int
    stdout: str
    stderr: str

    def events(self) -> list[dict]:
        """stdout of `--json`: every line must be one JSON object."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def cli_env(store: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVLAB_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = "1"  # see single_thread
    env["COLUMNS"] = "120"
    env.pop("FORCE_COLOR", None)
    if store is not None:
        env["CONVLAB_STORE"] = str(store)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "convlab", *map(str, args)]


def run_convlab(*args, cwd: Path, store: Path | None = None, timeout: float = 300) -> CLIResult:
    """`python -m convlab ARGS` in `cwd`, with CONVLAB_STORE = `store` (if given)."""
    proc = subprocess.run(
        cli_command(*args),
        cwd=cwd,
        env=cli_env(store),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return CLIResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def run_cli(tmp_path):
    """run_cli(*args, store=None, timeout=300) -> CLIResult, run in tmp_path with
    CONVLAB_STORE pointing into tmp_path (tmp_path/convlab.sqlite by default)."""

    def run(*args, store: Path | None = None, timeout: float = 300) -> CLIResult:
        return run_convlab(*args, cwd=tmp_path, store=store or tmp_path / "convlab.sqlite", timeout=timeout)

    return run


def assert_user_error(result: CLIResult, *fragments: str) -> str:
    """Exit status 2, exactly one line on stderr naming each fragment, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert lines[0].startswith("convlab: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def run_of_a_killed_process(store_path) -> int:
    """A run created by another process that is then killed (SIGKILL) mid-run:
    the store says 'running', and no process holds the run's lock."""
    code = (
        "import os, signal; from convlab.config import spec; from convlab.store import Store; "
        f"s = Store({str(store_path)!r}); print(s.create_run(spec.load('shallow'), group_id=None), flush=True); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env())
    assert proc.returncode == -9, proc.stderr
    return int(proc.stdout)
