"""Contracts point down: every import between the package's modules, function-level ones included,
goes from a higher part to a lower one (or within a part), and no modules import each other in a
cycle. The parts, lowest first: grammar, compiler, backends, session, then the parts built on the
session, then the CLI and facade (`polyprompt/`)."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from helpers import REPO

#: the order of the parts; a part may import its own modules and those of the parts before it
ORDER = ["stdlib", "grammar", "compiler", "backends", "session", "dataset", "run", "train", "evaluate", "serve", "polyprompt"]


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (polyprompt.compiler.passes.place_system...)."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    found = {}
    for package, folder in mapping.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def imports(name: str, path: Path, known: dict) -> set[str]:
    """The package modules `name` imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{a.name}" for a in node.names] + [stem]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target != "polyprompt":
                out.add(target)
    return out


def part(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else "polyprompt"


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_part_has_its_place():
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert {p.split(".")[1] if "." in p else p for p in mapping} <= set(ORDER)


def test_imports_point_down():
    against = sorted(f"{a} -> {b}" for a, targets in graph().items() for b in targets
                     if ORDER.index(part(b)) > ORDER.index(part(a)))
    assert against == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles():
    assert cycles(graph()) == []
