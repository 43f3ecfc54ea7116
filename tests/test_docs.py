"""The README and the docs site: short front page, the CI test command kept
verbatim, no machine paths or commit hashes, every file, module and test they
name still there, every install line under the package's real name, and a site
that builds with --strict."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from helpers import REPO

README = REPO / "README.md"
PAGES = sorted((REPO / "docs").rglob("*.md")) + [README, REPO / "CHANGELOG.md"]
# Event and export fields whose names start like a test's.
FIELDS = {"test_acc", "test_at_best", "test_mean", "test_sd"}


def text(path) -> str:
    return path.read_text(encoding="utf-8")


def fenced_blocks(markdown: str) -> list[list[str]]:
    return [block.strip("\n").splitlines() for block in re.findall(r"```[a-z]*\n(.*?)```", markdown, re.S)]


def test_the_readme_is_a_front_page_with_the_ci_test_command():
    readme = text(README)
    assert len(readme.splitlines()) <= 250
    tests = readme.split("\n## Tests\n", 1)[1].split("\n## ", 1)[0]
    blocks = fenced_blocks(tests)
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci.startswith(".venv/bin/python -m pytest") and [ci] in blocks, "CI runs the README's line word for word"
    assert ['.venv/bin/python -m pytest -m "not slow"'] in blocks


def test_no_machine_paths_or_commit_hashes():
    found = []
    for page in PAGES:
        for n, line in enumerate(text(page).splitlines(), 1):
            hashes = [
                h for h in re.findall(r"\b[0-9a-f]{7,40}\b", line) if re.search(r"[a-f]", h) and re.search(r"\d", h)
            ]
            if "/work/" in line or "/tmp/" in line or hashes:
                found.append(f"{page.relative_to(REPO)}:{n}: {line.strip()}")
    assert found == []


def test_every_file_module_and_test_named_is_there():
    tests_defined = {m for p in (REPO / "tests").rglob("*.py") for m in re.findall(r"def (test_\w+)", text(p))}
    test_files = {p.stem for p in (REPO / "tests").rglob("test_*.py")}
    missing = []
    for page in PAGES:
        if page.name == "CHANGELOG.md":  # history names what was there then
            continue
        body = text(page)
        for path in re.findall(r"\b((?:convlab|tests|bench)/[\w/.-]+\.(?:py|sh|tcss|md))\b", body):
            if not (REPO / path).exists():
                missing.append(f"{page.name}: {path}")
        for module in re.findall(r"`((?:book|data|config|store|runs|results|term)/\w+\.py)`", body):
            if not (REPO / "convlab" / module).exists():
                missing.append(f"{page.name}: convlab/{module}")
        for name in set(re.findall(r"\btest_\w+", body)) - FIELDS - test_files:
            if name not in tests_defined:
                missing.append(f"{page.name}: {name}")
    assert missing == []


def test_every_install_line_names_the_distribution():
    wrong = [
        f"{page.relative_to(REPO)}: {command}"
        for page in PAGES
        for command in re.findall(r"pip install ([^`#;&|\n]*)", text(page))
        if any(re.fullmatch(r"convlab(\[.*\])?", arg.strip("'\"")) for arg in command.split())
    ]
    assert wrong == [], "the package index's `convlab` is another project: install nndl-convlab"


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None, reason="the docs tools: pip install 'nndl-convlab[docs]'"
)
def test_the_docs_site_builds_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path / "site")],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reference = (tmp_path / "site" / "guide" / "api" / "index.html").read_text()
    assert reference.count('id="convlab.api.') > 5 and 'id="convlab.api.open_run"' in reference
    assert 'id="convlab.api.StoredRun"' in reference and 'id="convlab.api.run_record"' not in reference  # __all__
