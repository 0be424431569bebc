"""pytest configuration: the tests import their helpers from tests/helpers.py.

`--update-goldens` rewrites the golden files under tests/golden/ instead of
comparing; review the diff in git before committing it.
"""
from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite tests/golden/ from the current output")


import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _compile_cache_in_a_temporary_folder(tmp_path_factory):
    """The compile cache (session/cache.py) of a test run lives and dies with it."""
    old = os.environ.get("POLYPROMPT_CACHE_DIR")
    os.environ["POLYPROMPT_CACHE_DIR"] = str(tmp_path_factory.mktemp("compile-cache"))
    yield
    if old is None:
        os.environ.pop("POLYPROMPT_CACHE_DIR", None)
    else:
        os.environ["POLYPROMPT_CACHE_DIR"] = old
