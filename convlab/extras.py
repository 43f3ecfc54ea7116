"""Optional dependencies: each is an extra of the package, and a command that
needs a missing one says in one line what to install."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from convlab.errors import UserError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import `module`, or fail with one line naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, extra, what) from None


def check_installed(module: str, extra: str, what: str) -> None:
    """`require`'s check without the import (which may take a second)."""
    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise _missing(module, extra, what)


def _missing(module: str, extra: str, what: str) -> UserError:
    return UserError(f"{what} needs {module.split('.')[0]}: pip install 'nndl-convlab[{extra}]'")
