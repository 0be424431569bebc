"""Walking the AST: `walk`, `node_at`, and Jinja-style visitors.

The children of a node (compiler/ast.py) are the nodes held by its fields:
directly, in a tuple, or in a tuple of tuples (`RecordLit.entries` pairs,
`If.branches`). Which fields can hold nodes is read once per class from the
field annotations (`child_fields`), so a new node class needs no entry here.

    for node in walk(module): ...                      # every node, parents first
    node_at(module, offset)[-1]                        # the innermost node at a character offset

    class Names(NodeVisitor):
        def visit_Name(self, node):                    # one method per class name
            self.found.append(node.name)               # (children: self.generic_visit(node))

`NodeTransformer` rebuilds the tree bottom-up with `attrs.evolve`, sharing
every subtree that did not change.
"""
from __future__ import annotations

import re
import sys
import typing
from typing import Any, Iterator

import attrs

from . import ast

_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_IDENT = re.compile(r"[A-Za-z_]\w*")


def child_fields(cls: type) -> tuple[str, ...]:
    """The names of the fields of a node class that can hold nodes, in declaration order."""
    found = _CHILD_FIELDS.get(cls)
    if found is None:
        scope = vars(sys.modules[cls.__module__])
        found = _CHILD_FIELDS[cls] = tuple(
            f.name for f in attrs.fields(cls)
            if f.name != "span" and any(_names_node(scope.get(word)) for word in _IDENT.findall(str(f.type))))
    return found


def _names_node(value: Any) -> bool:
    """Is this module-level value a node class, or a union alias (`Piece`, `Stmt`) with one in it?"""
    if isinstance(value, type):
        return issubclass(value, ast.Node)
    return any(isinstance(a, type) and issubclass(a, ast.Node) for a in typing.get_args(value))


def iter_children(node: ast.Node) -> Iterator[ast.Node]:
    """The direct children of a node, in field order and, within a field, in order."""
    for name in child_fields(type(node)):
        yield from _nodes(getattr(node, name))


def _nodes(value: Any) -> Iterator[ast.Node]:
    if isinstance(value, ast.Node):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _nodes(item)


def walk(node: ast.Node) -> Iterator[ast.Node]:
    """`node` and every node below it, each once, depth first with parents before their children.

    Iterative: a deeply nested expression does not reach Python's recursion limit."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(tuple(iter_children(current))))


def node_at(root: ast.Node, offset: int) -> list[ast.Node]:
    """The chain of nodes whose span holds the character `offset`, from `root` to the innermost.

    Spans are half-open (`start <= offset < end`), so a cursor just after a name is `offset - 1`
    for it. Each node of the chain is a child of the one before; where two children hold the
    offset (a `//` comment, a child of the module, lies inside the declaration around it), the
    narrower one is followed. Nodes without a span are passed over. Empty when `root` does not
    hold the offset."""
    chain: list[ast.Node] = []
    node: ast.Node | None = root if _holds(root, offset) else None
    while node is not None:
        chain.append(node)
        node = min((c for c in iter_children(node) if _holds(c, offset)),
                   key=lambda c: c.span.end - c.span.start, default=None)
    return chain


def _holds(node: ast.Node, offset: int) -> bool:
    return node.span is not None and node.span.start <= offset < node.span.end


class NodeVisitor:
    """Calls `visit_<ClassName>(node)` for a node, or `generic_visit` when there is no such method.

    `generic_visit` visits the children; a `visit_` method that wants the nodes below its own
    calls it. What `visit` returns is what the method returns (None for `generic_visit`)."""

    def visit(self, node: ast.Node) -> Any:
        """Dispatch on the node's class name."""
        return getattr(self, f"visit_{type(node).__name__}", self.generic_visit)(node)

    def generic_visit(self, node: ast.Node) -> Any:
        """Visit every child, in order."""
        for child in iter_children(node):
            self.visit(child)


class NodeTransformer(NodeVisitor):
    """A visitor whose methods return the node to put in place of the one visited.

    `generic_visit` replaces each child by what visiting it returns; None removes a child from
    the tuple that holds it (or empties an optional field). A node whose children all come back
    unchanged is returned as it is, so an untouched subtree is shared, not copied."""

    def generic_visit(self, node: ast.Node) -> ast.Node:
        """The node with its children transformed (itself if none changed)."""
        changes = {}
        for name in child_fields(type(node)):
            old = getattr(node, name)
            new = self._transform(old)
            if new is not old:
                changes[name] = new
        return attrs.evolve(node, **changes) if changes else node

    def _transform(self, value: Any) -> Any:
        if isinstance(value, ast.Node):
            return self.visit(value)
        if not isinstance(value, tuple):
            return value
        items = [self._transform(item) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        return tuple(new for new, old in zip(items, value) if new is not None or old is None)
