"""The sdist holds what its tests need: built from the checkout (hatchling, no
network), unpacked, and a slice of the suite run from the unpacked tree with
this environment's python, convlab imported from that tree."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import REPO

pytestmark = pytest.mark.slow

NEEDED = ("tests/golden", "tests/tui", "presets", "data/mnist")  # every file of these folders
NEEDED_FILES = ("tests/conftest.py", "tests/helpers.py", "pyproject.toml", "LICENSE", "data/mnist/LICENSE")
# The engine's input checks and the data reader, and the lab's home screen
# against its stored snapshots (tests/tui/__snapshots__, its presets, conftest).
SLICE = ("tests/test_spec.py", "tests/test_data.py", "tests/tui/test_snapshots.py::test_home")


def checkout_files(folder: str) -> set[str]:
    """The files of `folder` that the checkout holds: git's list where there is one."""
    if (REPO / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "--", folder], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        return {line for line in listed.splitlines() if (REPO / line).is_file()}
    return {
        str(p.relative_to(REPO)) for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory) -> tuple[Path, set[str]]:
    tmp = tmp_path_factory.mktemp("sdist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", tmp / "dist", REPO],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (sdist,) = (tmp / "dist").glob("nndl_convlab-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp, filter="data")
        top = archive.getnames()[0].split("/")[0]
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    return tmp / top, names


def test_the_sdist_holds_the_tests_presets_and_mnist(unpacked):
    _, names = unpacked
    assert set(NEEDED_FILES) <= names
    for folder in NEEDED:
        expected = checkout_files(folder)
        assert expected, f"{folder}: empty in the checkout"
        assert expected <= names, f"{folder}: missing from the sdist: {sorted(expected - names)[:5]}"
    assert any(n.startswith("tests/tui/__snapshots__/") for n in names)


def test_a_slice_of_the_suite_passes_from_the_unpacked_sdist(unpacked):
    root, _ = unpacked
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVLAB_")}
    env.update(PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    where = subprocess.run(
        [sys.executable, "-c", "import convlab; print(convlab.__file__)"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(root)  # the unpacked tree, not the checkout
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SLICE],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
