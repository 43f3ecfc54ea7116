"""Fixtures for every test; the helpers themselves live in helpers.py, which
tests import by name (a second conftest.py in tests/tui makes `conftest` ambiguous)."""

from helpers import mnist, mnist_copy, private_user_folders, run_cli, single_thread, write_toml  # noqa: F401  (fixtures)
