"""One line that names the thing (#22, items 15 and 16): a data file that cannot
be read or inflates without end, the run whose worker was killed, a bad file
among the user's presets, a --train-limit above the data."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

from test_data import _replace
from test_orphans import SAFETY, TINY
from test_store_damage import as_another_user

from convlab.data.mnist import FILES
from convlab.store import Store

from helpers import DATA, assert_user_error, cli_command, cli_env, toml_text


def gzip_bomb(size: int) -> bytes:
    """A gzip file of a few hundred kB that inflates to `size` zero bytes."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: with a gzip header
    chunk = bytes(2**20)
    return b"".join(deflate.compress(chunk) for _ in range(size // len(chunk))) + deflate.flush()


def test_data_files_that_cannot_be_read_are_one_line_naming_them(tmp_path, record_property):
    """Unreadable (no permission) and a gzip bomb behind a matching sum: one line
    naming the file, exit 2, and no run or group stored."""
    folder = Path(tempfile.mkdtemp(prefix="convlab-data-"))  # open to the other user the CLI may run as
    try:
        data = folder / "mnist"
        shutil.copytree(DATA, data)
        store = folder / "runs.sqlite"
        args = ("run", "shallow", "--epochs", "1", "--train-limit", "100", "--data-dir", data, "--store", store)
        labels = data / FILES["train_labels"]
        os.chmod(folder, 0o777)
        os.chmod(labels, 0)
        env = {**cli_env(), "XDG_DATA_HOME": str(folder)}
        run = [*as_another_user(), *cli_command(*args)]
        result = subprocess.run(run, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
        assert_user_error(result, str(labels), "cannot be read", "Permission denied")
        os.chmod(labels, 0o644)

        _replace(data, "test_images", b"", b"", raw=gzip_bomb(200 * 2**20))
        result = subprocess.run(cli_command(*args), cwd=folder, env=env, capture_output=True, text=True, timeout=120)
        assert_user_error(result, FILES["test_images"], "inflates to more than")
        with Store(store) as s:
            assert s.runs() == [] and s.db.execute("SELECT count(*) FROM groups").fetchone()[0] == 0
    finally:
        shutil.rmtree(folder)
    record_property("cases", 2)


def lock_holder(store_path, run_id: int) -> int | None:
    try:
        text = (store_path.parent / f"{store_path.name}.locks" / f"run-{run_id}.lock").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return None


def test_a_killed_worker_names_its_own_run(tmp_path):
    """`run --workers 2`: the worker training run 1 is SIGKILLed while run 2
    trains too; the last line names run 1, never `run 2 failed`."""
    preset = tmp_path / "tiny.toml"
    preset.write_text(toml_text(TINY, {"activation": "relu", "epochs": 1, "eta": 0.1, "repeats": 1}, name="tiny"))
    store_path = tmp_path / "runs.sqlite"
    args = ("run", preset, "--repeats", "2", "--epochs", "30", "--train-limit", "500", "--workers", "2")
    parent = subprocess.Popen(
        cli_command(*args, "--store", store_path),
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + SAFETY
    while not store_path.exists() or len([r for r in Store(store_path).runs() if r.epochs_done >= 1]) < 2:
        assert time.monotonic() < end and parent.poll() is None
        time.sleep(0.2)
    worker = lock_holder(store_path, 1)
    assert worker is not None and worker != parent.pid
    os.kill(worker, signal.SIGKILL)
    _, stderr = parent.communicate(timeout=SAFETY)
    last = stderr.strip().splitlines()[-1]
    assert "run 2 failed" not in stderr and "Traceback" not in stderr
    assert "run 1" in last or "runs 1," in last, last
    assert "convlab run --resume 1" in last
    with Store(store_path) as store:
        assert store.run(1).status == "interrupted"


def test_the_lab_removes_its_jobs_folder_when_its_terminal_hangs_up(tmp_path):
    """SIGHUP (a closed terminal or SSH session) ends the lab as `q` does: its
    `convlab-jobs-*` folder is gone."""
    temp = tmp_path / "temp"
    temp.mkdir()
    main, child = pty.openpty()
    env = {**cli_env(tmp_path / "lab.sqlite"), "TERM": "xterm-256color", "TMPDIR": str(temp)}
    proc = subprocess.Popen(
        cli_command(), cwd=tmp_path, env=env, stdin=child, stdout=child, stderr=child, start_new_session=True
    )
    os.close(child)
    seen, deadline = b"", time.monotonic() + 90
    try:
        while b"lab.sqlite" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([main], [], [], 0.5)[0]:
                seen += os.read(main, 65536)
        assert b"lab.sqlite" in seen, seen[-2000:]
        assert [p.name[:13] for p in temp.iterdir()] == ["convlab-jobs-"]
        proc.send_signal(signal.SIGHUP)
        os.close(main)  # the terminal is gone: what the lab writes now fails, as after a real hang-up
        main = None
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if main is not None:
            os.close(main)
    assert list(temp.iterdir()) == []


def test_one_bad_file_among_the_users_presets_hides_none_of_the_others(tmp_path, record_property):
    """`convlab presets` (and --names) lists the shipped presets and the user's
    good one, and names the bad file in one line on stderr."""
    mine = tmp_path / "presets"
    mine.mkdir()
    (mine / "good.toml").write_text(toml_text(TINY, {"epochs": 1}, name="good"), encoding="utf-8")
    (mine / "bad.toml").write_bytes(b"name = \xff\xfe not text")
    env = {**cli_env(tmp_path / "s.sqlite"), "CONVLAB_PRESETS": str(mine)}
    for extra in ((), ("--names",)):
        result = subprocess.run(cli_command("presets", *extra), cwd=tmp_path, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
        assert {"good", "relu", "shallow"} <= set(names), result.stdout
        errors = result.stderr.strip().splitlines()
        assert len(errors) == 1 and str(mine / "bad.toml") in errors[0] and "Traceback" not in result.stderr
    record_property("cases", 2)


def test_a_train_limit_above_the_training_set_is_refused(tmp_path, run_cli, write_toml, record_property):
    """--train-limit 200000 on the 50,000 plain images (and the same in a preset
    file): one line, exit 2, nothing stored."""
    for args in (("shallow", "--train-limit", "200000"), (write_toml("big.toml", TINY, {"train_limit": 60_000}),)):
        result = run_cli("run", *args, "--epochs", "1")
        assert_user_error(result, "200,000" if len(args) > 1 else "60,000", "50,000", "plain training set")
    with Store(tmp_path / "convlab.sqlite") as store:
        assert store.runs() == [] and store.db.execute("SELECT count(*) FROM groups").fetchone()[0] == 0
    record_property("cases", 2)
