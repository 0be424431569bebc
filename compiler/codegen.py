"""Generated Python for the common case: a prompt of plain text turns, rendered
straight to a target's message dicts.

`compile_messages` returns a function `inputs -> [{"role", "content"}]` for a
prompt whose statements are text messages, `for` and `if` (with `model` and
`tools` at the top level), for a target that writes such turns as
`{"role", "content"}` and whose passes leave them as they are (system turns in
place, no alternation rule). Everything else returns None, and the general
path (closures, IR, passes) renders. The generated code trims each turn, as
`normalize_whitespace` does; a turn left empty makes it return None, so that
render takes the general path and reports the drop (PP409).

Like Jinja, it compiles templates to Python source once: a render is string
concatenation and dict building, without a call per piece.
"""
from __future__ import annotations

from typing import Any, Callable

from . import ast
from .check.consts import constant_value, is_constant
from .evaluate import is_target
from .runtime import load_source

_SIMPLE = (ast.Message, ast.For, ast.If, ast.ModelStmt, ast.ToolsStmt)


class Unsupported(Exception):
    """A construct the generated path does not take: use the general path."""


def compile_messages(decl: ast.PromptDecl, static: Callable[[ast.Expr], Any]) -> Callable[[dict], list] | None:
    """A generated renderer, or None when the prompt needs the general path.

    `static(expr)` gives the compile-time value of a name that is not a
    parameter (an enum member, a type); it raises Unsupported otherwise.
    """
    gen = _Gen(static)
    try:
        for name in (p.name.name for p in decl.params):
            gen.locals[name] = gen.var(name)
        lines = ["def render(inputs, target):", "    out = []", "    add = out.append"]
        for p in decl.params:
            lines.append(f"    {gen.locals[p.name.name]} = inputs[{p.name.name!r}]")
        lines.append("    v_target = target")
        gen.locals["target"] = "v_target"
        lines += gen.block(decl.body, 1, top=True)
        lines.append("    return out")
    except Unsupported:
        return None
    source = "\n".join(gen.header + lines)
    render = load_source(source, gen.globals, decl.name.name)
    render.source = source if gen.cacheable else None  # what session/cache.py may store
    return render



def _start_with_first(pad: str, pieces: list[str]) -> list[str]:
    """`t = ''; t += a` written as `t = a` when the first piece is a plain append (a small, hot saving)."""
    if pieces and pieces[0].startswith(pad + "t += ") and not pieces[0].startswith(pad + "t += x if"):
        return [pad + "t = " + pieces[0][len(pad) + 5:]] + pieces[1:]
    return [pad + "t = ''"] + pieces


class _Gen:
    def __init__(self, static):
        self.static = static
        self.locals: dict[str, str] = {}
        self.globals: dict[str, Any] = {}  # values that are not literals (then the code is not cacheable)
        self.header: list[str] = []  # module-level lines: filters bound to names
        self.filters: set[str] = set()
        self.cacheable = True
        self.count = 0

    def var(self, name: str) -> str:
        self.count += 1
        return f"v{self.count}_{name}"

    def const(self, value: Any) -> str:
        if isinstance(value, (str, int, float, bool)) or value is None:
            return repr(value)
        self.count += 1
        name = f"_c{self.count}"
        self.globals[name] = value
        self.cacheable = False
        return name

    def filter(self, name: str) -> str:
        if name not in self.filters:
            self.filters.add(name)
            self.header.append(f"_f_{name} = _FILTERS[{name!r}]")
        return f"_f_{name}"

    # ---------------------------------------------------------------- statements
    def block(self, body, depth: int, top: bool = False) -> list[str]:
        out: list[str] = []
        for stmt in body:
            if not isinstance(stmt, _SIMPLE) or (isinstance(stmt, (ast.ModelStmt, ast.ToolsStmt)) and not top):
                raise Unsupported(type(stmt).__name__)
            if isinstance(stmt, ast.Message):
                out += self.message(stmt, depth)
            elif isinstance(stmt, ast.For):
                out += self.loop(stmt, depth)
            elif isinstance(stmt, ast.If):
                out += self.branch(stmt, depth)
        return out or ["    " * depth + "pass"]

    def message(self, stmt: ast.Message, depth: int) -> list[str]:
        if stmt.braced or len(stmt.parts) != 1:
            raise Unsupported("parts")
        pad = "    " * depth
        lines = _start_with_first(pad, self.pieces(stmt.parts[0].pieces, depth, "t"))
        if stmt.parts[0].trim_end:
            lines.append(pad + "t = t[:-1] if t.endswith('\\n') else t")
        lines += [pad + "t = t.strip()", pad + "if not t:", pad + "    return None",
                  pad + f"add({{'role': {stmt.role!r}, 'content': t}})"]
        return lines

    def loop(self, stmt: ast.For, depth: int) -> list[str]:
        var = self.var(stmt.var.name)
        outer = self.locals.get(stmt.var.name)
        items = self.expr(stmt.iterable)
        self.locals[stmt.var.name] = var
        body = self.block(stmt.body, depth + 1)
        self.restore(stmt.var.name, outer)
        return ["    " * depth + f"for {var} in {items} or ():"] + body

    def branch(self, stmt: ast.If, depth: int) -> list[str]:
        pad, lines = "    " * depth, []
        for i, (cond, body) in enumerate(stmt.branches):
            lines.append(pad + f"{'if' if i == 0 else 'elif'} {self.expr(cond)}:")
            lines += self.block(body, depth + 1)
        if stmt.orelse is not None:
            lines.append(pad + "else:")
            lines += self.block(stmt.orelse, depth + 1)
        return lines

    def restore(self, name: str, outer: str | None) -> None:
        if outer is None:
            self.locals.pop(name, None)
        else:
            self.locals[name] = outer

    # ---------------------------------------------------------------- text
    def pieces(self, pieces, depth: int, target: str) -> list[str]:
        pad, out = "    " * depth, []
        for piece in pieces:
            if isinstance(piece, ast.Text):
                out.append(pad + f"{target} += {piece.value!r}")
            elif isinstance(piece, ast.Interp):
                code = self.expr(piece.expr)
                out.append(pad + f"x = {code}")
                out.append(pad + f"{target} += x if x.__class__ is str else _text(x)")
            elif isinstance(piece, ast.IfBlock):
                for i, (cond, body) in enumerate(piece.branches):
                    out.append(pad + f"{'if' if i == 0 else 'elif'} {self.expr(cond)}:")
                    out += self.pieces(body, depth + 1, target) or [pad + "    pass"]
                if piece.orelse is not None:
                    out.append(pad + "else:")
                    out += self.pieces(piece.orelse, depth + 1, target) or [pad + "    pass"]
            elif isinstance(piece, ast.ForBlock):
                var = self.var(piece.var.name)
                outer = self.locals.get(piece.var.name)
                out.append(pad + f"for {var} in {self.expr(piece.iterable)} or ():")
                self.locals[piece.var.name] = var
                out += self.pieces(piece.body, depth + 1, target) or [pad + "    pass"]
                self.restore(piece.var.name, outer)
        return out

    # ---------------------------------------------------------------- expressions
    def expr(self, e: ast.Expr) -> str:
        if is_constant(e):
            return self.const(constant_value(e))
        if isinstance(e, ast.Name):
            if e.name in self.locals:
                return self.locals[e.name]
            return self.const(self.static(e))
        if isinstance(e, ast.GetAttr):
            if isinstance(e.obj, ast.Name) and e.obj.name not in self.locals:
                return self.const(self.static(e))
            obj = self.expr(e.obj)
            if not obj.isidentifier():
                return f"_get({obj}, {e.attr.name!r})"
            return f"({obj}.get({e.attr.name!r}) if {obj}.__class__ is dict else None)"  # inline: a call per field costs
        if isinstance(e, ast.GetItem):
            return f"_item({self.expr(e.obj)}, {self.expr(e.index)})"
        if isinstance(e, ast.Filter):
            run = self.filter(e.name.name)
            args = "".join(", " + self.expr(a.value) for a in e.args)
            return f"{run}({self.expr(e.value)}{args})"
        if isinstance(e, ast.Compare):
            if e.op in ("==", "!=") and (is_target(e.left) or is_target(e.right)):
                target, other = (e.left, e.right) if is_target(e.left) else (e.right, e.left)
                test = f"_target_is({self.expr(target)}, {self.expr(other)})"
                return test if e.op == "==" else f"(not {test})"
            left, right = self.expr(e.left), self.expr(e.right)
            return {"==": f"({left} == {right})", "!=": f"({left} != {right})",
                    "in": f"_in({right}, {left})", "not in": f"(not _in({right}, {left}))"}.get(
                e.op, f"_order({e.op!r}, {left}, {right})")
        if isinstance(e, ast.And):
            return "(" + " and ".join(f"bool({self.expr(i)})" for i in e.items) + ")"
        if isinstance(e, ast.Or):
            return "(" + " or ".join(f"bool({self.expr(i)})" for i in e.items) + ")"
        if isinstance(e, ast.Not):
            return f"(not {self.expr(e.operand)})"
        raise Unsupported(type(e).__name__)
