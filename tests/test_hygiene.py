"""Keep the tree readable: small modules, docstrings, no stray prints."""
from __future__ import annotations

import ast as pyast

import pytest

from helpers import REPO

SOURCES = sorted(p for folder in ("polyprompt", "grammar", "compiler", "backends", "run", "stdlib")
                 for p in (REPO / folder).rglob("*.py"))
TESTS = sorted((REPO / "tests").glob("test_*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_modules_are_small_and_documented(path):
    text = path.read_text()
    assert text.count("\n") <= 650, "split this module (about 600 lines at most)"
    tree = pyast.parse(text)
    if path.name != "__main__.py" and text.strip():
        assert pyast.get_docstring(tree), "every module says what it is for"


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_test_modules_stay_under_1000_lines(path):
    assert path.read_text().count("\n") <= 1000
