"""Fixtures for the lab's tests: a presets folder of fixed files (copies of
three of the chapter's presets and a tiny network that trains in seconds;
the package's own presets are not listed),
and a store seeded with hand-made runs with fixed values and times, so that
snapshots do not depend on the clock, the host or the shipped presets."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tui_helpers import seed_store

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def fixed_world(tmp_path, monkeypatch):
    """Presets copied to tmp_path (saving writes there), UTC times, and the
    working directory in tmp_path so the store's name shows short."""
    presets = tmp_path / "presets"
    shutil.copytree(HERE / "presets", presets)
    monkeypatch.setenv("CONVLAB_PRESETS", str(presets))
    monkeypatch.setenv("CONVLAB_SHIPPED_PRESETS", str(tmp_path / "no-shipped-presets"))  # only the fixed ones
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    yield presets
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def seeded_store(tmp_path, fixed_world) -> str:
    """A relative path (the header shows it as given), seeded once per test."""
    seed_store(tmp_path / "runs.sqlite", fixed_world)
    return "runs.sqlite"


@pytest.fixture
def empty_store(tmp_path) -> str:
    return str(tmp_path / "empty.sqlite")
