"""Keep the tree readable: small modules, docstrings, no stray prints."""
from __future__ import annotations

import ast as pyast
import tomllib
from pathlib import Path

import pytest

from helpers import REPO


def _source_folders() -> list[Path]:
    """The package's top-level folders, as pyproject.toml maps them under `polyprompt`."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return sorted({REPO / folder for folder in pyproject["tool"]["setuptools"]["package-dir"].values()})


SOURCES = sorted(p for folder in _source_folders() for p in folder.rglob("*.py"))
TESTS = sorted((REPO / "tests").glob("test_*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_modules_are_small_and_documented(path):
    text = path.read_text()
    assert text.count("\n") <= 650, "split this module (about 600 lines at most)"
    tree = pyast.parse(text)
    if path.name != "__main__.py" and text.strip():
        assert pyast.get_docstring(tree), "every module says what it is for"


def _is_public(name: str) -> bool:
    """Not named with a leading `_` (which also leaves out dunders)."""
    return not name.startswith("_")


def _is_accessor(node: pyast.AST) -> bool:
    """A property's setter or deleter (`@name.setter`): the getter carries the docstring."""
    return any(isinstance(d, pyast.Attribute) and d.attr in ("setter", "deleter")
               for d in getattr(node, "decorator_list", ()))


def _base_names(cls: pyast.ClassDef) -> list[str]:
    """The bases' last names (`base.Backend` -> `Backend`), for a lookup by name in the package."""
    names = []
    for base in cls.bases:
        if isinstance(base, pyast.Subscript):  # Generic[T], Base[X]
            base = base.value
        if isinstance(base, pyast.Name):
            names.append(base.id)
        elif isinstance(base, pyast.Attribute):
            names.append(base.attr)
    return names


def _methods(cls: pyast.ClassDef) -> list[pyast.FunctionDef | pyast.AsyncFunctionDef]:
    """The functions defined directly in a class body (properties included)."""
    return [n for n in cls.body if isinstance(n, (pyast.FunctionDef, pyast.AsyncFunctionDef))]


def _package_classes() -> dict[str, list[pyast.ClassDef]]:
    """Every module-level class of the package by name (names may repeat across modules)."""
    classes: dict[str, list[pyast.ClassDef]] = {}
    for path in SOURCES:
        for node in pyast.parse(path.read_text()).body:
            if isinstance(node, pyast.ClassDef):
                classes.setdefault(node.name, []).append(node)
    return classes


def _documented_in_a_base(cls: pyast.ClassDef, method: str, classes, seen=None) -> bool:
    """Whether a base class of `cls` in the package (or one of its own bases) documents `method`."""
    seen = set() if seen is None else seen
    for name in _base_names(cls):
        for base in classes.get(name, ()):
            if id(base) in seen:
                continue
            seen.add(id(base))
            if any(m.name == method and pyast.get_docstring(m) for m in _methods(base)):
                return True
            if _documented_in_a_base(base, method, classes, seen):
                return True
    return False


def _undocumented(path: Path, classes) -> list[str]:
    """`path:line name` for each public symbol of the module at `path` without a docstring."""
    where = path.relative_to(REPO)
    found = []
    for node in pyast.parse(path.read_text()).body:
        if not isinstance(node, (pyast.FunctionDef, pyast.AsyncFunctionDef, pyast.ClassDef)):
            continue
        if not _is_public(node.name):
            continue
        if not pyast.get_docstring(node) and not _is_accessor(node):
            found.append(f"{where}:{node.lineno} {node.name}")
        if isinstance(node, pyast.ClassDef):
            for method in _methods(node):
                if (_is_public(method.name) and not pyast.get_docstring(method)
                        and not _is_accessor(method)
                        and not _documented_in_a_base(node, method.name, classes)):
                    found.append(f"{where}:{method.lineno} {node.name}.{method.name}")
    return found


def test_public_symbols_have_docstrings():
    """Every public symbol of the package says what it is for.

    Public: a module-level function or class whose name does not start with `_`, and each method
    (properties included) of such a class whose name does not start with `_` (so dunders are
    exempt). Nested functions and nested classes are exempt, and so is a property's setter or
    deleter (the getter carries the docstring). A method that overrides a method documented in a
    base class of the package is exempt: the base is found by its name (the last part of the
    base expression) among the package's module-level classes, and through its own bases in turn.
    """
    classes = _package_classes()
    offenders = [line for path in SOURCES for line in _undocumented(path, classes)]
    assert not offenders, f"{len(offenders)} public symbols without a docstring:\n" + "\n".join(offenders)


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_test_modules_stay_under_1000_lines(path):
    assert path.read_text().count("\n") <= 1000
