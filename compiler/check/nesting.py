"""How deep blocks nest: prompts are compiled to Python functions (compiler/codegen/), and Python
takes at most 20 nested loops and 100 levels of indentation in one function. A prompt nesting its
blocks (`for`, `if`, `priority`, `target` statements and `{% %}` tags, counted together along one
path) deeper than MAX_DEPTH is PP235; a fragment starts counting again (it becomes a function of
its own). Real prompts nest a few levels: the limit only stops machine-made or hostile files.
"""
from __future__ import annotations

from .. import ast
from ..diagnostics import Sink

MAX_DEPTH = 16


def check_nesting(module: ast.Module, sink: Sink) -> None:
    """PP235 for the first block of each declaration that nests deeper than MAX_DEPTH."""
    for decl in module.decls:
        body = getattr(decl, "body", None)
        text = getattr(decl, "text", None)
        found = None
        if isinstance(decl, (ast.PromptDecl, ast.FragmentDecl)) and body:
            found = _deepest(body, 0)
        if found is None and isinstance(text, ast.Template):
            found = _deepest(text.pieces, 0)
        if found is not None:
            sink.error("PP235", f"blocks nested more than {MAX_DEPTH} levels deep", found.span,
                       help="move the inner part into a fragment, or flatten the conditions")


def _inner(node) -> list:
    """The blocks directly inside a statement or a string piece (none for the others)."""
    if isinstance(node, (ast.For, ast.Priority, ast.TargetBlock, ast.ForBlock)):
        return [node.body]
    if isinstance(node, (ast.If, ast.IfBlock)):
        return [b for _c, b in node.branches] + ([node.orelse] if node.orelse is not None else [])
    return []


def _deepest(items, depth: int):
    """The first statement or piece whose blocks would nest deeper than MAX_DEPTH, or None. The
    strings of a message count from the depth of the message."""
    for item in items:
        inner = _inner(item)
        if inner and depth + 1 > MAX_DEPTH:
            return item
        for block in inner:
            found = _deepest(block, depth + 1)
            if found is not None:
                return found
        for part in getattr(item, "parts", ()) or ():
            found = _deepest(part.pieces, depth) if isinstance(part, ast.Template) else None
            if found is not None:
                return found
    return None
