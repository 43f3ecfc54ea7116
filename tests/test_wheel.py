"""The wheel carries what convlab needs: it is built from a copy of the source
(no network beyond the package index), installed with its dependencies into a
fresh virtual environment, and `convlab run relu` trains from another folder
on the MNIST and presets inside the installed package, storing the run in the
user's data folder. Its metadata name the distribution nndl-convlab and both
licences: MIT for the code, CC BY-SA 3.0 for the bundled MNIST files."""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import REPO

pytestmark = pytest.mark.slow

SHIPPED = (
    "convlab/_shipped/presets/relu.toml",
    "convlab/_shipped/presets/ensemble.toml",
    "convlab/_shipped/presets/sweeps/relu-lambda.toml",
    "convlab/_shipped/data/mnist/SHA256SUMS",
    "convlab/_shipped/data/mnist/README.md",
    "convlab/_shipped/data/mnist/train-images-idx3-ubyte.gz",
    "convlab/_shipped/data/mnist/t10k-labels-idx1-ubyte.gz",
    "convlab/tui/convlab.tcss",
)


def run(*command, cwd: Path, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "*.sqlite*", ".pytest_cache", "tests"
        ),
    )
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", source, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("nndl_convlab-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp)
    pip = venv / "bin" / "pip"
    run(pip, "install", "torch==2.13.0", cwd=tmp)  # the CPU build (a local file where pip is set up with one)
    run(pip, "install", wheel, cwd=tmp)
    return tmp, wheel, venv


def user_env(tmp: Path) -> dict[str, str]:
    """No CONVLAB_* variables; the user's folders under tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVLAB_", "XDG_", "VIRTUAL_ENV"))}
    env.update(
        HOME=str(tmp / "home"),
        XDG_DATA_HOME=str(tmp / "home" / ".local" / "share"),
        OMP_NUM_THREADS="1",
        PYTHONNOUSERSITE="1",
    )
    return env


def test_the_wheel_holds_presets_mnist_and_the_stylesheet(installed):
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(SHIPPED) <= names
    presets = [n for n in names if n.startswith("convlab/_shipped/presets/") and n.endswith(".toml")]
    assert len([n for n in presets if n.count("/") == 3]) == len(
        list((REPO / "presets").glob("*.toml"))
    )  # beside them, presets/sweeps/


def test_the_wheel_is_nndl_convlab_under_both_licences(installed):
    _, wheel, venv = installed
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    headers = email.parser.Parser().parsestr(archive.read(metadata).decode("utf-8"), headersonly=True)
    assert headers["Name"] == "nndl-convlab"
    assert headers["License-Expression"] == "MIT AND CC-BY-SA-3.0"  # the code; the bundled MNIST files
    assert sorted(headers.get_all("License-File")) == ["LICENSE", "data/mnist/LICENSE"]
    licences = metadata.rpartition("/")[0] + "/licenses"
    assert archive.read(f"{licences}/LICENSE").startswith(b"MIT License")
    assert b"Creative Commons Attribution-ShareAlike 3.0" in archive.read(f"{licences}/data/mnist/LICENSE")
    code = "import importlib.metadata as m; print(sorted(set(m.packages_distributions()['convlab'])))"
    installed_as = run(venv / "bin" / "python", "-c", code, cwd=venv)
    assert installed_as.stdout.strip() == "['nndl-convlab']"  # the import package convlab comes from nndl-convlab


def test_installed_convlab_trains_from_another_folder(installed):
    tmp, _, venv = installed
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = user_env(tmp)
    convlab = venv / "bin" / "convlab"
    presets = run(convlab, "presets", cwd=elsewhere, env=env).stdout
    assert (
        "relu" in presets
        and "two-conv" in presets
        and presets.count("shipped") == len(list((REPO / "presets").glob("*.toml")))
    )
    trained = run(
        convlab, "run", "relu", "--epochs", "1", "--train-limit", "2000", "--repeats", "1", cwd=elsewhere, env=env
    )
    assert "run 1 finished" in trained.stdout
    store = tmp / "home" / ".local" / "share" / "convlab" / "convlab.sqlite"
    assert store.exists() and not (elsewhere / "convlab.sqlite").exists()
    where = run(
        venv / "bin" / "python", "-c", "import convlab.data.mnist as d; print(d.__file__)", cwd=elsewhere, env=env
    )
    assert str(venv) in where.stdout  # the installed package, not the source tree
    assert "finished" in run(convlab, "runs", cwd=elsewhere, env=env).stdout
