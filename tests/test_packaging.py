"""Packaging: every module convlab imports is the standard library, convlab
itself, or a declared dependency; what only an extra brings is imported
lazily (inside a function), so the rest works without it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from helpers import REPO

PACKAGE = REPO / "convlab"


def requirement_names(requirements: list[str]) -> set[str]:
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requirements}
    return {re.sub(r"[-_.]+", "-", n).lower() for n in names} - {"convlab"}


def declared() -> tuple[set[str], set[str]]:
    """(the dependencies, what only the extras add), as normalised names."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = requirement_names(project["dependencies"])
    extras = set().union(*(requirement_names(r) for k, r in project["optional-dependencies"].items() if k != "dev"))
    return core, extras - core


def imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level?) for each import in a file."""
    found = []
    nested = {
        id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) not in nested) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], id(node) not in nested))
    return found


def test_every_import_is_declared_and_extras_are_lazy():
    core, extras = declared()
    distributions = packages_distributions()
    undeclared, eager = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, top_level in imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module in sys.stdlib_module_names or module == "convlab" or module == "__future__":
                continue
            names = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [module])}
            where = f"{path.relative_to(REPO)}: {module}"
            if not names & (core | extras):
                undeclared.append(where)
            elif top_level and not names & core:
                eager.append(where)
    assert undeclared == [], "imported but not declared in pyproject.toml"
    assert eager == [], "an extra's package imported at module level"
    assert {"rich", "platformdirs", "numpy", "torch", "textual"} <= core
    assert {"tensorboard", "pandas", "textual-serve", "shtab"} <= extras


def test_a_missing_extra_is_one_line_naming_it():
    import pytest

    from convlab.errors import UserError
    from convlab.extras import require

    with pytest.raises(UserError) as error:
        require("no_such_module_here", "pandas", "a DataFrame")
    assert str(error.value) == "a DataFrame needs no_such_module_here: pip install 'nndl-convlab[pandas]'"
