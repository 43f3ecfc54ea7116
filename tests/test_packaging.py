"""Packaging: every module convlab imports is the standard library, convlab
itself, or a declared dependency; what only an extra brings is imported
lazily (inside a function), so the rest works without it; and every
`pip install` a user reads names the distribution, nndl-convlab ("convlab" on
the package index is another project)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from helpers import REPO

PACKAGE = REPO / "convlab"
DISTRIBUTION = "nndl-convlab"


def normalised(name: str) -> str:
    """A distribution name as the package index compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requirements}
    return {normalised(n) for n in names} - {DISTRIBUTION}


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
            names = {normalised(d) for d in distributions.get(module, [module])}
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


# `pip install` and its arguments: the first may begin the next line (a wrapped
# docstring), the others are on its line, up to where a command ends in prose or
# a shell line: a backtick, a closing bracket or quote, a comment, &&, ;
ARGUMENT = r"[^\s`)#;&|\"]+"
PIP_INSTALL = re.compile(rf"pip3?\s+install(\s+{ARGUMENT}(?:[ \t]+{ARGUMENT})*)")


def pip_install_lines() -> list[tuple[str, list[str]]]:
    """(where, what it installs) for each `pip install` in the README, the docs and the package."""
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted(PACKAGE.rglob("*.py"))]
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in PIP_INSTALL.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(REPO)}:{line}", installed_names(match.group(1).split())))
    return found


def installed_names(words: list[str]) -> list[str]:
    """The distributions named by pip install's arguments: options, their values,
    local paths (-e ., '.[dev]') and URLs left out; quotes, extras and versions stripped."""
    names, skip = [], False
    for word in words:
        word = word.strip("'\",.:")
        if skip or not word:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in ("-e", "--editable", "-r", "--requirement", "--index-url", "--extra-index-url", "-i", "-c")
            continue
        if word.startswith((".", "/", "~")) or "://" in word:
            continue
        names.append(normalised(re.match(r"[A-Za-z0-9_.-]+", word).group(0)) if word[0].isalnum() else word)
    return names


def test_every_pip_install_names_the_distribution_not_convlab():
    lines = pip_install_lines()
    wrong = [(where, names) for where, names in lines if "convlab" in names]
    assert wrong == [], "`pip install convlab` installs another project (ConvLab-3); write nndl-convlab"
    named = {name for _, names in lines for name in names}
    assert DISTRIBUTION in named and "torch" in named  # the lines are found
    assert any(where.startswith("convlab/") and DISTRIBUTION in names for where, names in lines)
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"] == DISTRIBUTION


def test_the_pip_install_reader_sees_bare_convlab():
    assert installed_names("'convlab[all]'".split()) == ["convlab"]
    assert installed_names("-U convlab==0.2".split()) == ["convlab"]
    assert installed_names("--force-reinstall nndl-convlab".split()) == ["nndl-convlab"]
    assert installed_names("torch --index-url https://download.pytorch.org/whl/cpu".split()) == ["torch"]
    assert installed_names("-e '.[dev]'".split()) == [] and installed_names("'nndl-convlab[{extra}]'".split()) == [
        "nndl-convlab"
    ]
    assert [
        names
        for _, names in [
            ("x", installed_names(m.group(1).split()))
            for m in PIP_INSTALL.finditer("needs `pip install 'convlab[ray]'`; (pip install\n'nndl-convlab[pandas]').")
        ]
    ] == [["convlab"], ["nndl-convlab"]]
