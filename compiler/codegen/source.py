"""Python source for expressions and text, shared by the two renderers generated from a prompt.

`Source` collects one generated module: its lines, the functions made for fragments, and the
values its code refers to. `Exprs` writes the code of an expression or of a string's pieces for
one scope (the names of one module and the locals in reach). Values are read through the one
runtime of compiler/runtime.py, the same for every renderer.
"""
from __future__ import annotations

import math
from typing import Any, cast

from .. import ast, builtins
from ..check.consts import constant_value, is_constant
from ..statics import MISSING, FragmentRef, Statics


class Unsupported(Exception):
    """A construct this renderer does not take."""


class Source:
    """One generated module: the functions written so far and the values their code names."""

    def __init__(self):
        self.globals: dict[str, Any] = {}  # values that are not literals (then the code is not cacheable)
        self.header: list[str] = []  # module-level lines: filters bound to names
        self.functions: list[str] = []  # module-level functions: fragments
        self.made: dict[tuple, str] = {}  # (kind, id of the declaration) -> function name
        self.filters: set[str] = set()
        self.cacheable = True
        self.count = 0

    def name(self, stem: str) -> str:
        """A fresh Python name."""
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, value: Any) -> str:
        """The code of a compile-time value: a literal, or a name bound in the module's globals."""
        if isinstance(value, (str, int, bool)) or value is None or (
                isinstance(value, float) and math.isfinite(value)):
            return repr(value)
        name = self.name("_c")
        self.globals[name] = value
        self.cacheable = False
        return name

    def filter(self, name: str) -> str:
        """The module-level name a builtin filter is bound to, bound on first use."""
        if name not in self.filters:
            self.filters.add(name)
            self.header.append(f"_f_{name} = _FILTERS[{name!r}]")
        return f"_f_{name}"

    def text(self, *lines: str) -> str:
        """The whole module's source, with `lines` (the main function) last."""
        return "\n".join([*self.header, *self.functions, *lines])


class Exprs:
    """Writes the code of expressions and string pieces for one scope."""

    def __init__(self, source: Source, statics: Statics, locals_: dict[str, str]):
        self.source, self.statics, self.locals = source, statics, locals_

    def for_module(self, statics: Statics) -> "Exprs":
        """A writer of the same kind for another module's names (a fragment's body)."""
        return Exprs(self.source, statics, {})

    def var(self, name: str) -> str:
        """A fresh Python variable for a name of the prompt."""
        return self.source.name(f"v_{name}_")

    def bind(self, name: str, var: str) -> str | None:
        """Make `name` mean `var` (a loop variable); returns what it meant, for `restore`."""
        outer = self.locals.get(name)
        self.locals[name] = var
        return outer

    def restore(self, name: str, outer: str | None) -> None:
        """Undo `bind`: make `name` mean again what it meant before."""
        if outer is None:
            self.locals.pop(name, None)
        else:
            self.locals[name] = outer

    # ---------------------------------------------------------------- text
    def pieces(self, pieces, depth: int, target: str) -> list[str]:
        """Lines appending the text of a string's pieces to the variable `target`."""
        pad, out = "    " * depth, []
        for piece in pieces:
            if isinstance(piece, ast.Text):
                out.append(pad + f"{target} += {piece.value!r}")
            elif isinstance(piece, ast.Interp):
                out.append(pad + f"x = {self.expr(piece.expr)}")
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
                out.append(pad + f"for {var} in {self.expr(piece.iterable)} or ():")
                outer = self.bind(piece.var.name, var)
                out += self.pieces(piece.body, depth + 1, target) or [pad + "    pass"]
                self.restore(piece.var.name, outer)
        return out

    def template(self, template: ast.Template, depth: int, target: str) -> list[str]:
        """Lines setting `target` to a string's text."""
        pad = "    " * depth
        lines = self.pieces(template.pieces, depth, target)
        if lines and lines[0].startswith(pad + f"{target} += ") and not lines[0].startswith(pad + f"{target} += x if"):
            lines = [pad + f"{target} = " + lines[0][len(pad) + len(target) + 4:]] + lines[1:]  # a small, hot saving
        else:
            lines = [pad + f"{target} = ''"] + lines
        if template.trim_end:
            lines.append(pad + f"{target} = {target}[:-1] if {target}.endswith('\\n') else {target}")
        return lines

    # ---------------------------------------------------------------- expressions
    def expr(self, e: ast.Expr) -> str:
        """The code of an expression."""
        if is_constant(e):
            return self.source.const(constant_value(e))
        method = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise Unsupported(type(e).__name__)
        return method(e)

    def static(self, e: ast.Expr) -> Any:
        """The compile-time value of a name or attribute, or MISSING (`Statics.value`)."""
        return self.statics.value(e, self.locals)

    def _Name(self, e: ast.Name) -> str:
        if e.name in self.locals:
            return self.locals[e.name]
        return self._folded(e)

    def _folded(self, e: ast.Expr) -> str:
        value = self.static(e)
        if value is MISSING or isinstance(value, FragmentRef):
            raise Unsupported("name")
        return self.source.const(value)

    def _GetAttr(self, e: ast.GetAttr) -> str:
        if self.static(e) is not MISSING:
            return self._folded(e)
        obj = self.expr(e.obj)
        if not obj.isidentifier():
            return f"_get({obj}, {e.attr.name!r})"
        return f"({obj}.get({e.attr.name!r}) if {obj}.__class__ is dict else None)"  # inline: a call per field costs

    def _GetItem(self, e: ast.GetItem) -> str:
        return f"_item({self.expr(e.obj)}, {self.expr(e.index)})"

    def _Filter(self, e: ast.Filter) -> str:
        run = self.source.filter(e.name.name)
        args = "".join(", " + self.expr(a.value) for a in e.args)
        return f"{run}({self.expr(e.value)}{args})"

    def _Compare(self, e: ast.Compare) -> str:
        the_record = self.locals.get("target") == "v_target"  # not a parameter named `target`
        if e.op in ("==", "!=") and the_record and (is_target(e.left) or is_target(e.right)):
            target, other = (e.left, e.right) if is_target(e.left) else (e.right, e.left)
            test = f"_target_is({self.expr(target)}, {self.expr(other)})"
            return test if e.op == "==" else f"(not {test})"
        left, right = self.expr(e.left), self.expr(e.right)
        return {"==": f"({left} == {right})", "!=": f"({left} != {right})",
                "in": f"_in({right}, {left})", "not in": f"(not _in({right}, {left}))"}.get(
            e.op, f"_order({e.op!r}, {left}, {right})")

    def _And(self, e: ast.And) -> str:
        return "(" + " and ".join(f"bool({self.expr(i)})" for i in e.items) + ")"

    def _Or(self, e: ast.Or) -> str:
        return "(" + " or ".join(f"bool({self.expr(i)})" for i in e.items) + ")"

    def _Not(self, e: ast.Not) -> str:
        return f"(not {self.expr(e.operand)})"

    def _ListLit(self, e: ast.ListLit) -> str:
        return "[" + "".join(self.expr(i) + ", " for i in e.items) + "]"

    def _RecordLit(self, e: ast.RecordLit) -> str:
        return "{" + "".join(f"{k.name!r}: {self.expr(v)}, " for k, v in e.entries) + "}"

    def _Call(self, e: ast.Call) -> str:
        name = e.func.name if isinstance(e.func, ast.Name) else None
        if name in builtins.FUNCTIONS and name not in self.locals and self.statics.scope.names.get(name) is None:
            run = builtins.FUNCTIONS[name].run
            statics = [self.static(a.value) for a in e.args]
            if all(v is not MISSING for v in statics):
                return self.source.const(run(*statics))  # schema(T) and friends fold at compile time
            return f"{self.source.const(run)}({', '.join(self.expr(a.value) for a in e.args)})"
        callee = self.static(e.func)
        if not isinstance(callee, FragmentRef):
            raise Unsupported("call")
        function = self.fragment_function(callee.symbol, "text")
        return f"{function}({self.call_args(cast(ast.FragmentDecl, callee.symbol.decl).params, e.args)})"

    # ---------------------------------------------------------------- fragments
    def call_args(self, params, args) -> str:
        """The arguments of a fragment function: the target, then every parameter in order (given,
        its default, or null)."""
        given: dict[str, str] = {}
        for param, arg in zip(params, [a for a in args if a.name is None]):
            given[param.name.name] = self.expr(arg.value)
        for arg in args:
            if arg.name is not None:
                given[arg.name.name] = self.expr(arg.value)
        values = [given.get(p.name.name) or (self.source.const(constant_value(p.default)) if p.default is not None
                                             else "None") for p in params]
        return ", ".join(["v_target", *values])  # the target record, whatever `target` names here

    def fragment_function(self, sym, kind: str) -> str:
        """The name of the module-level function of a fragment, written on first use: "text" for a
        text fragment (returns its text), "body" for a fragment of statements (writes to `out`)."""
        key = (kind, id(sym.decl))
        if key not in self.source.made:
            name = self.source.made[key] = self.source.name(f"_{kind}_{sym.decl.name.name}_")
            decl = sym.decl
            inner = self.for_module(self.statics.for_module(sym.module.key))
            params = [inner.var(p.name.name) for p in decl.params]
            inner.locals.update({p.name.name: v for p, v in zip(decl.params, params)})
            inner.locals.setdefault("target", "v_target")  # a parameter named `target` wins
            head = f"def {name}(" + ", ".join((["out"] if kind == "body" else []) + ["v_target", *params]) + "):"
            if kind == "text":
                lines = inner.template(decl.text, 1, "t") + ["    return t"]
            else:
                lines = inner.block(decl.body, 1)
            self.source.functions.append("\n".join([head, *lines]))
        return self.source.made[key]

    def block(self, body, depth: int) -> list[str]:
        """Lines running a block of statements: a statement writer's job."""
        raise Unsupported("statements")

    def for_statement(self, stmt: ast.For, depth: int) -> list[str]:
        """A `for` statement: its body once per item (none for null), the variable local to it."""
        var = self.var(stmt.var.name)
        head = "    " * depth + f"for {var} in {self.expr(stmt.iterable)} or ():"
        outer = self.bind(stmt.var.name, var)
        body = self.block(stmt.body, depth + 1)
        self.restore(stmt.var.name, outer)
        return [head, *body]

    def if_statement(self, stmt: ast.If, depth: int) -> list[str]:
        """An `if` statement: the first branch whose condition holds, else the `else` block."""
        pad, lines = "    " * depth, []
        for i, (cond, body) in enumerate(stmt.branches):
            lines.append(pad + f"{'if' if i == 0 else 'elif'} {self.expr(cond)}:")
            lines += self.block(body, depth + 1)
        if stmt.orelse is not None:
            lines.append(pad + "else:")
            lines += self.block(stmt.orelse, depth + 1)
        return lines


def is_target(e: ast.Expr) -> bool:
    """Is this the `target` record (compared with a name: `target == "anthropic"`)?"""
    return isinstance(e, ast.Name) and e.name == "target"
