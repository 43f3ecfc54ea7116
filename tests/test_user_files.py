"""Where user files go, through the real CLI and the lab's own save function:
the store and saved presets in the platform's user data folder (platformdirs;
XDG_DATA_HOME here), unless CONVLAB_STORE / CONVLAB_PRESETS or a
./convlab.sqlite and ./presets in the current folder say otherwise; the
shipped presets and MNIST come from inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from convlab.config import paths

from helpers import REPO, cli_env, toml_text

LAYERS = [{"type": "fc", "n_out": 30}, {"type": "softmax", "n_out": 10}]


def convlab(*args, cwd: Path, user: Path, **env_extra) -> subprocess.CompletedProcess:
    env = {**cli_env(), "XDG_DATA_HOME": str(user), **env_extra}
    proc = subprocess.run(
        [sys.executable, "-m", "convlab", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def folders(tmp_path):
    work, user = tmp_path / "work", tmp_path / "user-data"
    work.mkdir()
    return work, user


def test_the_store_goes_to_the_user_folder_unless_told(folders):
    work, user = folders
    first = convlab("runs", cwd=work, user=user).stdout
    default = user / "convlab" / "convlab.sqlite"
    assert f"no runs in {default}" in first and default.exists()
    assert not (work / "convlab.sqlite").exists()
    (work / "convlab.sqlite").touch()  # a store in the current folder wins
    assert "no runs in convlab.sqlite" in convlab("runs", cwd=work, user=user).stdout
    chosen = work / "elsewhere.sqlite"
    assert f"no runs in {chosen}" in convlab("runs", cwd=work, user=user, CONVLAB_STORE=str(chosen)).stdout


def test_saved_presets_go_to_the_user_folder_and_are_marked(folders, monkeypatch):
    from convlab.tui import preset_text

    work, user = folders
    monkeypatch.setenv("XDG_DATA_HOME", str(user))
    monkeypatch.delenv("CONVLAB_PRESETS", raising=False)
    monkeypatch.chdir(work)
    saved = preset_text.save(toml_text(LAYERS, {"epochs": 1}, name="x"), "my-net")  # what the lab's Save-as calls
    assert saved == user / "convlab" / "presets" / "my-net.toml"
    listed = convlab("presets", cwd=work, user=user).stdout.splitlines()
    mine = next(line for line in listed if line.startswith("my-net "))
    assert "user" in mine.split()
    shipped = [line for line in listed if line.split() and line.split()[-1] == "shipped"]
    assert len(shipped) == len(list((REPO / "presets").glob("*.toml"))) and any(
        line.startswith("relu ") for line in shipped
    )
    assert str(saved.parent) in listed[-1]  # the last line says where your presets are
    names = convlab("presets", "--names", cwd=work, user=user).stdout.split()
    assert "my-net" in names and "relu" in names


def test_a_presets_folder_here_or_convlab_presets_takes_the_saved_presets(folders, monkeypatch):
    from convlab.tui import preset_text

    work, user = folders
    monkeypatch.setenv("XDG_DATA_HOME", str(user))
    monkeypatch.delenv("CONVLAB_PRESETS", raising=False)
    monkeypatch.chdir(work)
    (work / "presets").mkdir()
    assert preset_text.save(toml_text(LAYERS, name="x"), "here-net") == Path("presets") / "here-net.toml"
    assert "here-net" in convlab("presets", "--names", cwd=work, user=user).stdout.split()
    other = work / "mine"
    other.mkdir()
    monkeypatch.setenv("CONVLAB_PRESETS", str(other))
    assert preset_text.save(toml_text(LAYERS, name="x"), "env-net") == other / "env-net.toml"
    names = convlab("presets", "--names", cwd=work, user=user, CONVLAB_PRESETS=str(other)).stdout.split()
    assert "env-net" in names and "here-net" not in names and "relu" in names


def test_shipped_files_come_from_the_checkouts_top_level():
    assert paths.shipped_presets_dir() == REPO / "presets" and (REPO / "presets" / "relu.toml").is_file()
    assert paths.data_dir() == paths.shipped_mnist_dir() == REPO / "data" / "mnist"
    assert (paths.shipped_mnist_dir() / "SHA256SUMS").is_file()
    assert not os.environ.get("CONVLAB_DATA")


def test_the_checkouts_presets_folder_is_never_the_users(folders, monkeypatch):
    """Run from the checkout, ./presets holds the shipped presets: they are not
    listed as the user's, and Save-as writes to the user data folder."""
    from convlab.tui import preset_text

    _, user = folders
    monkeypatch.setenv("XDG_DATA_HOME", str(user))
    monkeypatch.delenv("CONVLAB_PRESETS", raising=False)
    monkeypatch.chdir(REPO)
    assert paths.presets_dir() == user / "convlab" / "presets"
    saved = preset_text.save(toml_text(LAYERS, name="x"), "mine-here")
    assert (
        saved == user / "convlab" / "presets" / "mine-here.toml" and not (REPO / "presets" / "mine-here.toml").exists()
    )
    listed = convlab("presets", cwd=REPO, user=user).stdout.splitlines()
    relu = [line for line in listed if line.startswith("relu ")]
    assert len(relu) == 1 and relu[0].split()[-1] == "shipped"
