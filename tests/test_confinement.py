"""Files stay where they belong (issue 22, items 1–2): an export writes only
safe names inside -o, whatever a preset's name holds; lock files never follow
a symlink, a locks folder of another owner is refused, and `x` signals only a
convlab process of this user."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from convlab.config.spec import load
from convlab.store import Store, liveness

from helpers import assert_user_error, cli_env, run_convlab
from report_fixtures import add_run


def store_with_names(path, *names: str) -> list[int]:
    """A finished one-epoch run for each preset name, through the real Store."""
    with Store(path) as store:
        relu = load("relu").with_train(epochs=1)
        return [add_run(store, dataclasses.replace(relu, name=n), None, 0, [(98.0, 97.0, 1.0)]) for n in names]


def files_under(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_a_tensorboard_export_writes_only_safe_names_inside_o(tmp_path):
    pytest.importorskip("tensorboard", reason="pip install 'nndl-convlab[tensorboard]'")
    work = tmp_path / "work"
    (work / "victim_tb").mkdir(parents=True)
    victim = work / "victim_tb" / "events.out.tfevents.1.victim"
    victim.write_bytes(b"the user's own events")
    store = tmp_path / "runs.sqlite"
    ids = store_with_names(store, "x/../../victim_tb", "../../../outside", "a/b/c", "n" * 100_000)
    before = files_under(tmp_path)
    done = run_convlab("export", "--format", "tensorboard", "-o", "tb3", cwd=work, store=store)
    assert done.returncode == 0, done.stderr
    assert victim.read_bytes() == b"the user's own events"
    added = files_under(tmp_path) - before
    assert added and all(p.startswith("work/tb3") for p in added), sorted(added)
    # one folder per run, none nested, beside the folder's own hparams table (an event file at the top of -o)
    folders = [p for p in (work / "tb3").iterdir() if p.is_dir()]
    tops = [p for p in (work / "tb3").iterdir() if not p.is_dir()]
    assert len(folders) == len(ids) and all(p.name.startswith("events.out.tfevents.") for p in tops)
    assert all(len(p.name) <= 100 and p.name.startswith("run-") for p in folders)
    for folder in folders:
        assert [f.name.startswith("events.out.tfevents.") for f in folder.iterdir()] == [True]


TINY = [{"type": "conv_pool", "maps": 2}, {"type": "fc", "n_out": 8}, {"type": "softmax", "n_out": 10}]


@pytest.fixture
def tiny(tmp_path):
    from helpers import toml_text

    path = tmp_path / "tiny.toml"
    path.write_text(toml_text(TINY, {"activation": "relu", "epochs": 1, "eta": 0.1, "repeats": 1}, name="tiny"))
    return path


@pytest.mark.parametrize("key", ["run-1", "group-1"])
def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path, tiny, key):
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file\n")
    locks = tmp_path / "sym.sqlite.locks"
    locks.mkdir()
    (locks / f"{key}.lock").symlink_to(victim)
    result = run_convlab("run", tiny, "--train-limit", "100", "--store", "sym.sqlite", cwd=tmp_path)
    assert_user_error(result, f"{key}.lock", "symbolic link")
    assert victim.read_text() == "the user's own file\n"


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_a_locks_folder_of_another_user_is_refused(tmp_path, tiny):
    locks = tmp_path / "other.sqlite.locks"
    locks.mkdir()
    os.chown(locks, 65534, 65534)
    result = run_convlab("run", tiny, "--train-limit", "100", "--store", "other.sqlite", cwd=tmp_path)
    assert_user_error(result, "other.sqlite.locks", "another user")
    assert list(locks.iterdir()) == []


def test_a_forged_lock_file_never_gets_an_unrelated_process_signalled(tmp_path):
    """A process holds run-1's lock but wrote there the pid (and true start time)
    of another process: `x` must signal nobody, and the other process lives on."""
    store = tmp_path / "runs.sqlite"
    store_with_names(store, "relu")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    lock = liveness.lock_path(store, "run-1")
    lock.parent.mkdir(exist_ok=True)
    forger_code = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); os.write(fd, sys.argv[2].encode()); "
        "print('held', flush=True); time.sleep(120)"
    )
    forged = f"{bystander.pid} {liveness.start_time(bystander.pid)}\n"
    forger = subprocess.Popen(
        [sys.executable, "-c", forger_code, str(lock), forged], stdout=subprocess.PIPE, text=True, env=cli_env()
    )
    try:
        assert forger.stdout.readline().strip() == "held"
        assert liveness.held(store, "run-1")
        assert liveness.stop_holder(store, "run-1") is None
        with Store(store) as s:
            assert s.stop_run(1) is None
        time.sleep(0.2)
        assert bystander.poll() is None  # never signalled
        # the real holder, named in its own lock file, is still stopped
        os.kill(forger.pid, signal.SIGSTOP)
        lock.write_text(f"{forger.pid} {liveness.start_time(forger.pid)}\n")
        os.kill(forger.pid, signal.SIGCONT)
        assert liveness.stop_holder(store, "run-1") == forger.pid
        assert forger.wait(timeout=30) == -signal.SIGTERM
    finally:
        for proc in (bystander, forger):
            proc.kill()
            proc.wait()
