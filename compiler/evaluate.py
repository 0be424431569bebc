"""Compile expressions and templates into Python closures, once per prompt.

A closure takes the environment (a dict of local names) and returns a value,
so a render does no parsing and no type checking: the checker has already
proved the program well typed. Names that are constant at compile time (types,
enum members, `schema(T)`) are folded here.

Values at run time are plain JSON-like Python values: records are dicts, lists
are lists, enum members are their names.
"""
from __future__ import annotations

from typing import Any, Callable

from . import ast, builtins
from . import types as T
from .check.consts import constant_value, is_constant
from .check.names import ModuleScope, Symbol, TypeResolver
from .diagnostics import Sink
from . import runtime
from .runtime import text_of

Fn = Callable[[dict], Any]
MISSING = object()


class FragmentRef:
    """A fragment as a compile-time value (what `output` in `output.typed` names)."""

    def __init__(self, symbol: Symbol):
        self.symbol = symbol


class Compiler:
    """Compiles the expressions and templates of one module's declarations."""

    def __init__(self, scope: ModuleScope, scopes: dict[str, ModuleScope], fragments: "FragmentCache"):
        self.scope, self.scopes, self.fragments = scope, scopes, fragments
        self.types = TypeResolver(scope, Sink(), scopes)

    def for_module(self, module_key: str) -> "Compiler":
        return Compiler(self.scopes[module_key], self.scopes, self.fragments)

    # ---------------------------------------------------------------- templates
    def template(self, template: ast.Template, locals_: frozenset[str]) -> Fn:
        render = self._pieces(template.pieces, locals_)
        if not template.trim_end:
            return render

        def trimmed(env: dict) -> str:
            s = render(env)
            return s[:-1] if s.endswith("\n") else s

        return trimmed

    def _pieces(self, pieces, locals_: frozenset[str]) -> Fn:
        parts = [self._piece(p, locals_) for p in pieces]
        if all(isinstance(p, str) for p in parts):
            constant = "".join(parts)
            return lambda env: constant
        fns = [(lambda env, s=p: s) if isinstance(p, str) else p for p in parts]
        if len(fns) == 1:
            return fns[0]
        return lambda env: "".join([f(env) for f in fns])

    def _piece(self, piece, locals_):
        if isinstance(piece, ast.Text):
            return piece.value
        if isinstance(piece, ast.Interp):
            fn = self.expr(piece.expr, locals_)
            return lambda env: text_of(fn(env))
        if isinstance(piece, ast.IfBlock):
            branches = [(self.expr(c, locals_), self._pieces(b, locals_)) for c, b in piece.branches]
            orelse = self._pieces(piece.orelse, locals_) if piece.orelse is not None else (lambda env: "")

            def render_if(env):
                for cond, body in branches:
                    if cond(env):
                        return body(env)
                return orelse(env)

            return render_if
        if isinstance(piece, ast.ForBlock):
            items = self.expr(piece.iterable, locals_)
            var = piece.var.name
            body = self._pieces(piece.body, locals_ | {var})

            def render_for(env):
                inner = dict(env)
                out = []
                for item in items(env) or ():
                    inner[var] = item
                    out.append(body(inner))
                return "".join(out)

            return render_for
        raise TypeError(type(piece).__name__)

    # ---------------------------------------------------------------- expressions
    def expr(self, e: ast.Expr, locals_: frozenset[str]) -> Fn:
        if is_constant(e):
            value = constant_value(e)
            return lambda env: value
        return getattr(self, "_" + type(e).__name__)(e, locals_)

    def static(self, e: ast.Expr, locals_: frozenset[str]) -> Any:
        """The compile-time value of a name or attribute, or MISSING."""
        if isinstance(e, ast.Name) and e.name not in locals_:
            sym = self.scope.names.get(e.name)
            if sym is None:
                if e.name in T.BUILTIN_TYPES:
                    return T.BUILTIN_TYPES[e.name]
                return e.name  # a bare enum member (the checker allowed it)
            return self._symbol(sym)
        if isinstance(e, ast.GetAttr):
            base = self.static(e.obj, locals_)
            if isinstance(base, T.EnumT):
                return e.attr.name
            if isinstance(base, ModuleScope):
                return self.for_module(base.module.key)._symbol(base.own[e.attr.name])
        return MISSING

    def _symbol(self, sym: Symbol):
        if sym.kind in ("record", "enum"):
            return sym.type
        if sym.kind == "alias":
            return self.types.alias_type(sym)
        if sym.kind == "fragment":
            return FragmentRef(sym)
        if sym.kind == "module":
            return sym.target
        return MISSING

    def _Name(self, e: ast.Name, locals_):
        if e.name in locals_:
            name = e.name
            return lambda env: env.get(name)
        value = self.static(e, locals_)
        return lambda env: value

    def _GetAttr(self, e: ast.GetAttr, locals_):
        value = self.static(e, locals_)
        if value is not MISSING:
            return lambda env: value
        obj, attr, get = self.expr(e.obj, locals_), e.attr.name, runtime.get
        return lambda env: get(obj(env), attr)

    def _GetItem(self, e: ast.GetItem, locals_):
        obj, index, item = self.expr(e.obj, locals_), self.expr(e.index, locals_), runtime.item
        return lambda env: item(obj(env), index(env))

    def _Call(self, e: ast.Call, locals_):
        name = e.func.name if isinstance(e.func, ast.Name) else None
        if name in builtins.FUNCTIONS and name not in locals_ and self.scope.names.get(name) is None:
            run = builtins.FUNCTIONS[name].run
            statics = [self.static(a.value, locals_) for a in e.args]
            if all(v is not MISSING for v in statics):
                value = run(*statics)
                return lambda env: value  # schema(T) and friends fold at compile time
            args = [self.expr(a.value, locals_) for a in e.args]
            return lambda env: run(*[a(env) for a in args])
        callee = self.static(e.func, locals_)
        return self.fragments.text_call(callee.symbol, self, e.args, locals_)

    def _Filter(self, e: ast.Filter, locals_):
        value = self.expr(e.value, locals_)
        args = [self.expr(a.value, locals_) for a in e.args]
        run = builtins.FILTERS[e.name.name].run
        return lambda env: run(value(env), *[a(env) for a in args])

    def _Compare(self, e: ast.Compare, locals_):
        if e.op in ("==", "!=") and (is_target(e.left) or is_target(e.right)):
            target, other = (e.left, e.right) if is_target(e.left) else (e.right, e.left)
            t, name, want = self.expr(target, locals_), self.expr(other, locals_), e.op == "=="
            return lambda env: runtime.target_is(t(env), name(env)) is want
        left, right = self.expr(e.left, locals_), self.expr(e.right, locals_)
        op, contains, order = e.op, runtime.contains, runtime.order
        if op == "==":
            return lambda env: left(env) == right(env)
        if op == "!=":
            return lambda env: left(env) != right(env)
        if op == "in":
            return lambda env: contains(right(env), left(env))
        if op == "not in":
            return lambda env: not contains(right(env), left(env))
        return lambda env: order(op, left(env), right(env))

    def _And(self, e: ast.And, locals_):
        items = [self.expr(i, locals_) for i in e.items]
        return lambda env: all(i(env) for i in items)

    def _Or(self, e: ast.Or, locals_):
        items = [self.expr(i, locals_) for i in e.items]
        return lambda env: any(i(env) for i in items)

    def _Not(self, e: ast.Not, locals_):
        operand = self.expr(e.operand, locals_)
        return lambda env: not operand(env)

    def _ListLit(self, e: ast.ListLit, locals_):
        items = [self.expr(i, locals_) for i in e.items]
        return lambda env: [i(env) for i in items]

    def _RecordLit(self, e: ast.RecordLit, locals_):
        entries = [(k.name, self.expr(v, locals_)) for k, v in e.entries]
        return lambda env: {k: v(env) for k, v in entries}

    # ---------------------------------------------------------------- arguments
    def bind(self, params, args: tuple[ast.Arg, ...], locals_) -> Callable[[dict], dict]:
        """A closure giving the callee's environment from the caller's."""
        fns: dict[str, Fn] = {}
        for param, arg in zip(params, [a for a in args if a.name is None]):
            fns[param.name.name] = self.expr(arg.value, locals_)
        for arg in args:
            if arg.name is not None:
                fns[arg.name.name] = self.expr(arg.value, locals_)
        defaults = {p.name.name: constant_value(p.default) if p.default is not None else None
                    for p in params if p.name.name not in fns}
        target = "target"
        return lambda env: {**defaults, **{k: f(env) for k, f in fns.items()}, target: env.get(target)}


def is_target(e: ast.Expr) -> bool:
    """Is this the `target` record (compared with a name: `target == "anthropic"`)?"""
    return isinstance(e, ast.Name) and e.name == "target"


class FragmentCache:
    """Each fragment is compiled once, for all the calls to it."""

    def __init__(self):
        self._text: dict[int, Fn] = {}
        self._body: dict[int, Any] = {}

    def text_call(self, sym: Symbol, caller: Compiler, args, locals_) -> Fn:
        decl: ast.FragmentDecl = sym.decl
        key = id(decl)
        if key not in self._text:
            compiler = caller.for_module(sym.module.key)
            params = frozenset(p.name.name for p in decl.params) | {"target"}
            self._text[key] = compiler.template(decl.text, params)
        render = self._text[key]
        bind = caller.bind(decl.params, args, locals_)
        return lambda env: render(bind(env))

    def body(self, sym: Symbol, build: Callable[[], Any]):
        key = id(sym.decl)
        if key not in self._body:
            self._body[key] = build()
        return self._body[key]
