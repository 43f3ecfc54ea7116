"""Where convlab finds things: the repository root, the shipped presets and
MNIST, and the run store. Every CONVLAB_* environment variable is read here
and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STORE_VAR = "CONVLAB_STORE"  # the run store (default ./convlab.sqlite)
DATA_VAR = "CONVLAB_DATA"  # the MNIST folder (default data/mnist of this repository)
PRESETS_VAR = "CONVLAB_PRESETS"  # the shipped presets (default presets/ of this repository)
RAY_VAR = "CONVLAB_RAY"  # a Ray cluster's address for every training command (unset: train locally)

DEFAULT_STORE = "convlab.sqlite"


def store_path(override: str | os.PathLike | None = None) -> Path:
    """--store, else CONVLAB_STORE, else convlab.sqlite in the working directory."""
    return Path(override or os.environ.get(STORE_VAR) or DEFAULT_STORE)


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """--data-dir, else CONVLAB_DATA, else the copy shipped in data/mnist."""
    return Path(override or os.environ.get(DATA_VAR) or ROOT / "data" / "mnist")


def presets_dir() -> Path:
    """Where the shipped presets live (CONVLAB_PRESETS overrides)."""
    return Path(os.environ.get(PRESETS_VAR, ROOT / "presets"))


def sweeps_dir() -> Path:
    """The shipped sweep files (sweeps/ of this repository)."""
    return ROOT / "sweeps"


def ray_address(override: str | None = None) -> str | None:
    """--ray ADDRESS, else CONVLAB_RAY, else None (no Ray)."""
    return override or os.environ.get(RAY_VAR) or None


def env_store() -> str | None:
    """CONVLAB_STORE as set, or None (the lab resolves the default itself)."""
    return os.environ.get(STORE_VAR)
