"""Where convlab finds things: the presets and MNIST it ships, the user's own
presets and the run store. Every CONVLAB_* environment variable is read here
and nowhere else.

The shipped files live at the repository's top level (presets/, data/mnist/);
a wheel carries them inside the package as convlab/_shipped/, read through
importlib.resources. A source checkout or an editable install reads them
from the checkout.

The user's files go to the platform's user data folder (platformdirs:
~/.local/share/convlab on Linux, ~/Library/Application Support/convlab on
macOS, %LOCALAPPDATA%\\convlab on Windows) unless the environment or the
current folder says otherwise:

- the store: --store, else CONVLAB_STORE, else ./convlab.sqlite if it exists,
  else convlab.sqlite in the user data folder;
- saved presets: CONVLAB_PRESETS, else ./presets if it is a folder that is
  not the shipped one, else presets/ in the user data folder. They are
  listed beside the shipped ones.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

PACKAGE = Path(str(files("convlab")))  # installed as plain files, never zipped


def _shipped_root() -> Path:
    """convlab/_shipped/ in a wheel; the checkout's top level otherwise."""
    packaged = files("convlab").joinpath("_shipped")
    return Path(str(packaged)) if packaged.is_dir() else PACKAGE.parent


SHIPPED = _shipped_root()

STORE_VAR = "CONVLAB_STORE"  # the run store
DATA_VAR = "CONVLAB_DATA"  # the MNIST folder (default: the copy inside the package)
PRESETS_VAR = "CONVLAB_PRESETS"  # the user's presets folder, where Save-as writes
SHIPPED_VAR = "CONVLAB_SHIPPED_PRESETS"  # the chapter's presets (default: the package's); tests swap in their own
RAY_VAR = "CONVLAB_RAY"  # a Ray cluster's address for every training command (unset: train locally)

DEFAULT_STORE = "convlab.sqlite"
HERE_PRESETS = "presets"


def user_dir() -> Path:
    """The platform's user data folder for convlab (not created here)."""
    import platformdirs

    return platformdirs.user_data_path("convlab", appauthor=False)


def store_path(override: str | os.PathLike | None = None) -> Path:
    """--store, else CONVLAB_STORE, else ./convlab.sqlite if there is one, else
    the user data folder's (the folder is made on first use)."""
    chosen = override or os.environ.get(STORE_VAR)
    if chosen:
        return Path(chosen)
    if Path(DEFAULT_STORE).exists():
        return Path(DEFAULT_STORE)
    folder = user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / DEFAULT_STORE


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """--data-dir, else CONVLAB_DATA, else the MNIST shipped in the package."""
    return Path(override or os.environ.get(DATA_VAR) or shipped_mnist_dir())


def shipped_mnist_dir() -> Path:
    return SHIPPED / "data" / "mnist"


def shipped_presets_dir() -> Path:
    """The chapter's presets (read-only: never saved to)."""
    return Path(os.environ.get(SHIPPED_VAR) or SHIPPED / "presets")


def presets_dir() -> Path:
    """The user's presets, where Save-as writes: CONVLAB_PRESETS, else ./presets
    if it is a folder, else the user data folder's."""
    chosen = os.environ.get(PRESETS_VAR)
    if chosen:
        return Path(chosen)
    here = Path(HERE_PRESETS)
    if here.is_dir() and not _same_folder(here, SHIPPED / "presets"):
        return here
    return user_dir() / "presets"


def _same_folder(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and a.resolve() == b.resolve()


def preset_files() -> dict[str, tuple[Path, bool]]:
    """Every preset by name: (its file, shipped?). A user's file of the same
    name as a shipped one comes first (it is the one a name means)."""
    found = {p.stem: (p, True) for p in sorted(shipped_presets_dir().glob("*.toml"))}
    user = presets_dir()
    try:
        if user.is_dir() and user.resolve() != shipped_presets_dir().resolve():
            found.update({p.stem: (p, False) for p in sorted(user.glob("*.toml"))})
    except OSError:  # a folder this user may not read: the shipped presets still list
        pass
    return found


def sweeps_dir() -> Path:
    """The shipped sweep files (beside the presets)."""
    return SHIPPED / "presets" / "sweeps"


def ray_address(override: str | None = None) -> str | None:
    """--ray ADDRESS, else CONVLAB_RAY, else None (no Ray)."""
    return override or os.environ.get(RAY_VAR) or None


def env_store() -> str | None:
    """CONVLAB_STORE as set, or None (the lab resolves the default itself)."""
    return os.environ.get(STORE_VAR)
