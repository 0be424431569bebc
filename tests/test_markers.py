"""The marker tables of tests/conftest.py name real test modules and functions.

A renamed test would otherwise silently move from the `parity` or `slow` runs into the unit run.
"""
from __future__ import annotations

import ast as pyast

import conftest
from helpers import REPO


def _tests_of(module: str) -> set[str]:
    tree = pyast.parse((REPO / "tests" / f"{module}.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, pyast.FunctionDef) and node.name.startswith("test_")}


def test_every_marked_module_exists():
    for module in conftest.PARITY_MODULES | conftest.SLOW_MODULES:
        assert (REPO / "tests" / f"{module}.py").is_file(), module


def test_every_marked_test_exists():
    named = [(module, name) for table in (conftest.PARITY_TESTS, conftest.SLOW_TESTS)
             for module, names in table.items() for name in names]
    named += list(conftest.UNIT_SUBSET)
    missing = sorted((module, name) for module, name in named if name not in _tests_of(module))
    assert missing == []
