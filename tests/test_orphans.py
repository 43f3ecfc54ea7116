"""Workers exit when their parent dies (issue 22, item 8): `convlab run
--workers 2` and `convlab sweep --workers 2`, their parent SIGKILLed mid-run;
every worker process is gone soon after, and no run is left *running*."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from convlab.store import Store

from helpers import cli_command, cli_env, toml_text

TINY = [{"type": "conv_pool", "maps": 2}, {"type": "fc", "n_out": 8}, {"type": "softmax", "n_out": 10}]
SAFETY = 180  # seconds: only so a broken build cannot hang the suite


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_workers_exit_when_their_parent_is_killed(tmp_path, command):
    preset = tmp_path / "tiny.toml"
    preset.write_text(toml_text(TINY, {"activation": "relu", "epochs": 1, "eta": 0.1, "repeats": 1}, name="tiny"))
    store_path = tmp_path / "runs.sqlite"
    what = ("--repeats", "4") if command == "run" else ("--set", "train.eta=0.1,0.2,0.3,0.4")
    args = (command, preset, *what, "--epochs", "30", "--train-limit", "500", "--workers", "2", "--store", store_path)
    parent = subprocess.Popen(cli_command(*args), cwd=tmp_path, env=cli_env(), stdout=subprocess.DEVNULL)
    end = time.monotonic() + SAFETY
    while not store_path.exists() or not any(r.epochs_done >= 1 for r in Store(store_path).runs()):
        assert time.monotonic() < end and parent.poll() is None
        time.sleep(0.2)
    workers = children(parent.pid)
    assert len(workers) >= 2
    parent.kill()
    parent.wait()
    while any(alive(pid) for pid in workers):
        assert time.monotonic() < end + SAFETY, [p for p in workers if alive(p)]
        time.sleep(0.5)
    with Store(store_path) as store:
        store.mark_stale()
        assert {r.status for r in store.runs()} <= {"finished", "interrupted"}
        assert any(r.status == "interrupted" for r in store.runs())
