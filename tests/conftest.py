"""Fixtures for every test; the helpers themselves live in helpers.py, which
tests import by name (a second conftest.py in tests/tui makes `conftest` ambiguous)."""

import pytest

from helpers import mnist, mnist_copy, private_user_folders, run_cli, single_thread, write_toml  # noqa: F401  (fixtures)

# The modules that start a local Ray cluster: under pytest-xdist they share a worker,
# so two clusters never start at once on a small machine.
RAY_MODULES = {"test_ray.py", "test_ray_connect.py", "test_search_ray.py"}
# The longest groups go first, so no worker is left with one of them at the end.
LONG_FIRST = [
    *("ray", "tests/test_wheel.py", "tests/test_sdist.py", "tests/test_engine.py", "tests/test_scheduler.py"),
    *("tests/test_search.py", "tests/test_reproduce.py", "tests/test_concurrency.py", "tests/test_sweep.py"),
]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    """With `-n N` (the README's command; pyproject's addopts give `--dist loadgroup`) each
    module runs on one worker, so its module-scoped fixtures (a trained store, a cluster) are built once."""
    groups = {}
    for item in items:
        group = "ray" if item.path.name in RAY_MODULES else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item] = group
    items.sort(key=lambda item: LONG_FIRST.index(groups[item]) if groups[item] in LONG_FIRST else len(LONG_FIRST))
