"""The renderer of plain text turns as generated Python: inputs -> a target's message dicts.

`compile_messages` returns a function `(inputs, target) -> [{"role", "content"}]` for a prompt
whose statements are text messages, `for` and `if` (with `model` and `tools` at the top level),
for a target that writes such turns as `{"role", "content"}` and whose passes leave them as they
are (`passes.text_turns_kept`). Anything else returns None, and the session renders through the
IR and the passes. The generated code trims each turn, as `normalize_whitespace` does; a turn left
empty makes it return None, so that render goes through the passes, which report the drop (PP409).
Its source is stored in the compile cache when every value it names is a literal.
"""
from __future__ import annotations

from typing import Callable

from .. import ast
from ..runtime import load_source
from ..statics import Statics
from .source import Exprs, Source, Unsupported

_SIMPLE = (ast.Message, ast.For, ast.If, ast.ModelStmt, ast.ToolsStmt)


def compile_messages(decl: ast.PromptDecl, statics: Statics, *,
                     skip_cache: bool = False) -> Callable[[dict, dict], list] | None:
    """A generated renderer of message dicts, or None when the prompt needs the passes.
    `skip_cache`: `cache` statements are passed over (for a caller to whom the turns' cache marks
    do not matter: an open-model target drops them all); otherwise they make it None, since a mark
    in a branch the first render did not take would be lost."""
    source = Source()
    gen = Messages(source, statics, {})
    gen.skip_cache = skip_cache
    try:
        lines = ["def render(inputs, target):", "    out = []", "    add = out.append"]
        for p in decl.params:
            var = gen.locals[p.name.name] = gen.var(p.name.name)
            lines.append(f"    {var} = inputs[{p.name.name!r}]")
        lines.append("    v_target = target")
        gen.locals.setdefault("target", "v_target")  # a parameter named `target` wins, as in the checker
        lines += gen.top(decl.body)
        lines.append("    return out")
    except Unsupported:
        return None
    text = source.text("\n".join(lines))
    render = load_source(text, source.globals, decl.name.name)
    render.source = text if source.cacheable else None  # what session/cache.py may store
    return render


class Messages(Exprs):
    """Writes the code of text turns."""

    skip_cache = False

    def for_module(self, statics: Statics) -> "Messages":
        found = Messages(self.source, statics, {})
        found.skip_cache = self.skip_cache
        return found

    def top(self, body) -> list[str]:
        """The prompt's own statements: `model` and `tools` are allowed here (the body's other parts)."""
        if any(isinstance(s, (ast.ModelStmt, ast.ToolsStmt)) for s in body):
            body = [s for s in body if not isinstance(s, (ast.ModelStmt, ast.ToolsStmt))]
        return self.block(body, 1)

    def block(self, body, depth: int) -> list[str]:
        out: list[str] = []
        for stmt in body:
            if isinstance(stmt, ast.Message):
                out += self.message(stmt, depth)
            elif isinstance(stmt, ast.For):
                out += self.for_statement(stmt, depth)
            elif isinstance(stmt, ast.If):
                out += self.if_statement(stmt, depth)
            elif isinstance(stmt, ast.Cache) and self.skip_cache:
                continue  # a mark on the turn before it: no text
            else:
                raise Unsupported(type(stmt).__name__)
        return out or ["    " * depth + "pass"]

    def message(self, stmt: ast.Message, depth: int) -> list[str]:
        """The code of one text turn: its template rendered, trimmed, and added unless empty (then the render
        returns None)."""
        if len(stmt.parts) != 1 or not isinstance(stmt.parts[0], ast.Template):
            raise Unsupported("parts")
        pad = "    " * depth
        return self.template(stmt.parts[0], depth, "t") + [
            pad + "t = t.strip()", pad + "if not t:", pad + "    return None",
            pad + f"add({{'role': {stmt.role!r}, 'content': t}})"]
