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
            found = _statements(body, 0)
        if found is None and isinstance(text, ast.Template):
            found = _pieces(text.pieces, 0)
        if found is not None:
            sink.error("PP235", f"blocks nested more than {MAX_DEPTH} levels deep", found.span,
                       help="move the inner part into a fragment, or flatten the conditions")


def _statements(body, depth: int):
    for stmt in body:
        inner: list = []
        if isinstance(stmt, (ast.For, ast.Priority, ast.TargetBlock)):
            inner = [stmt.body]
        elif isinstance(stmt, ast.If):
            inner = [b for _c, b in stmt.branches] + ([stmt.orelse] if stmt.orelse is not None else [])
        if inner and depth + 1 > MAX_DEPTH:
            return stmt
        for block in inner:
            found = _statements(block, depth + 1)
            if found is not None:
                return found
        for part in getattr(stmt, "parts", ()) or ():
            if isinstance(part, ast.Template):
                found = _pieces(part.pieces, depth)
                if found is not None:
                    return found
    return None


def _pieces(pieces, depth: int):
    for piece in pieces:
        inner: list = []
        if isinstance(piece, ast.ForBlock):
            inner = [piece.body]
        elif isinstance(piece, ast.IfBlock):
            inner = [b for _c, b in piece.branches] + ([piece.orelse] if piece.orelse is not None else [])
        if inner and depth + 1 > MAX_DEPTH:
            return piece
        for block in inner:
            found = _pieces(block, depth + 1)
            if found is not None:
                return found
    return None
