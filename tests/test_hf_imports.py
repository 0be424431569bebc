"""The open-model part and the run part import each other in one direction only, without cycles.

Every module of `polyprompt.backends.hf` and `polyprompt.run` is read with `ast` (not imported), and
every import in it is collected, at module level and inside functions alike: a function-level import
is a dependency too, only a later one. The graph of those imports between the modules must have no
cycle; backends never import `polyprompt.run` and neither imports the command line; no module takes
another's private (`_name`) names; none is a script (commands are `polyprompt` subcommands).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import REPO

#: package -> folder: the parts whose modules are checked
PARTS = {"polyprompt.backends.hf": REPO / "backends" / "hf", "polyprompt.run": REPO / "run"}


def modules(parts: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the parts (a package is its __init__.py)."""
    found = {}
    for package, folder in parts.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            found[".".join((package, *rel))] = path
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of `from <...> import` in `module` (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[:len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import statement of the file, nested ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((_absolute(node, module, path.name == "__init__.py"), [a.name for a in node.names]))
    return out


def graph(parts: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of the parts it imports. `from pkg import name` counts as importing
    `pkg.name` when that is a module, else `pkg`."""
    known = modules(parts)
    edges: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for target, names in imports(module, path):
            hits = {f"{target}.{n}" for n in names if f"{target}.{n}" in known}
            if len(hits) < len(names) or not names:
                hits.add(target)
            edges[module] |= {h for h in hits if h in known and h != module}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_parts_are_found():
    names = set(modules(PARTS))
    assert {"polyprompt.backends.hf.target", "polyprompt.backends.hf.probe.facts", "polyprompt.run.local"} <= names


def test_no_import_cycles():
    cycle = find_cycle(graph(PARTS))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("module, path", sorted(modules(PARTS).items()))
def test_imports_go_downwards(module, path):
    """backends never import run (run sits above them); neither imports the command line."""
    targets = {target for target, _names in imports(module, path)}
    assert not any(t == "polyprompt.cli" or t.startswith("polyprompt.cli.") for t in targets)
    if module.startswith("polyprompt.backends."):
        assert not any(t == "polyprompt.run" or t.startswith("polyprompt.run.") for t in targets)


@pytest.mark.parametrize("module, path", sorted(modules(PARTS).items()))
def test_no_private_names_across_modules(module, path):
    """A name another module needs is public: a shared private name hides a dependency."""
    taken = [(target, name) for target, names in imports(module, path) for name in names
             if target.startswith(tuple(PARTS)) and name.startswith("_")]
    assert not taken, f"{module} imports private names: {taken}"


@pytest.mark.parametrize("module, path", sorted(modules(PARTS).items()))
def test_no_module_is_a_script(module, path):
    """Commands are `polyprompt` subcommands (polyprompt/cli.py), not `python -m` entry points."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    mains = [node.lineno for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
    assert not mains, f"{module}: an `if __name__ == '__main__'` block at line {mains[0]}"


def test_a_cycle_is_found(tmp_path):
    """The checker itself: a function-level import closing a loop is a cycle."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from . import c\n")
    (pkg / "c.py").write_text("from .a import x\n")
    assert find_cycle(graph({"demo": pkg})) == ["demo.a", "demo.b", "demo.c", "demo.a"]
    (pkg / "c.py").write_text("import json\n")
    assert find_cycle(graph({"demo": pkg})) is None
