"""pytest configuration: the tests import their helpers from tests/helpers.py.

`--update-goldens` rewrites the golden files under tests/golden/ instead of
comparing; review the diff in git before committing it.
"""
from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite tests/golden/ from the current output")
