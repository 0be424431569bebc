"""Type checking of expressions, templates and constant values.

`Env` is what an expression can see: local names (parameters, loop
variables, `row`, `output`...), the module scope (fragments, types, enums,
imported modules) and the built-ins. Every error is reported once and the
expression gets `UNKNOWN`, which is compatible with everything, so there is
no cascade.
"""
from __future__ import annotations

import json
from typing import Callable, cast

import attrs

from .. import ast, builtins
from .. import types as T
from ..diagnostics import Sink
from ..span import Span
from .consts import truth_of
from .names import ModuleScope, Symbol, TypeResolver, suggest

#: Words of the expression language: a parameter or loop variable with one of these names could never be read.
RESERVED_NAMES = frozenset({"true", "false", "null", "not", "and", "or", "in"})

#: `target` inside a prompt: the target being compiled for.
TARGET_RECORD = T.RecordT("Target", description="the target being compiled for")
TARGET_RECORD.fields = {
    "name": T.FieldT("name", T.STR, True, "the target name, e.g. `anthropic` or `hf:./model`"),
    "family": T.FieldT("family", T.STR, True, "the provider or model family, e.g. `openai`, `gemma`"),
    "kind": T.FieldT("kind", T.LiteralT(("api", "model", "format")), True),
}


@attrs.frozen
class FragmentRefT:
    """A fragment or builtin function used as a callee (not a value)."""

    symbol: Symbol

    def __str__(self) -> str:
        return f"fragment {self.symbol.name}"


@attrs.frozen
class ModuleRefT:
    """An imported module's name used in an expression (only `module.name` reads it)."""
    symbol: Symbol

    def __str__(self) -> str:
        return f"module {self.symbol.name}"


@attrs.define
class Env:
    """What a body's expressions are checked in: the module's names, the locals and their types, what is used and
    called."""
    scope: ModuleScope
    resolver: TypeResolver
    sink: Sink
    locals: dict[str, T.Type] = attrs.field(factory=dict)
    used: set[str] = attrs.field(factory=set)
    #: fragments called from this body, for the recursion check
    calls: list[tuple[Symbol, Span]] = attrs.field(factory=list)

    def child(self, more: dict[str, T.Type]) -> "Env":
        """An inner environment with more locals (a loop variable), sharing what is used and called.
        A mapping, not keyword arguments: a loop variable may be called `self`."""
        env = Env(self.scope, self.resolver, self.sink, {**self.locals, **more}, self.used, self.calls)
        return env


class ExprChecker:
    """Computes the type of expressions in an `Env`, reporting errors."""

    def __init__(self, env: Env):
        self.env = env
        self.sink = env.sink

    # ---------------------------------------------------------------- dispatch
    def type_of(self, expr: ast.Expr, expected: T.Type | None = None) -> T.Type:
        """The type of `expr`, reporting its errors; `expected` (the type wanted there) admits a bare enum member."""
        method: Callable = getattr(self, "_" + type(expr).__name__)
        return method(expr, expected)

    def _Literal(self, expr: ast.Literal, expected):
        return T.literal_type(expr.value)

    def _Name(self, expr: ast.Name, expected):
        name = expr.name
        if name in self.env.locals:
            self.env.used.add(name)
            return self.env.locals[name]
        expected_enum = T.strip_optional(expected) if expected is not None else None
        if isinstance(expected_enum, T.EnumT) and name in expected_enum.members and self.env.scope.names.get(name) is None:
            return expected_enum  # a bare enum member where the enum is expected
        sym = self.env.scope.lookup(name)
        if sym is not None:
            return self._symbol_value(sym, expr)
        if name in T.BUILTIN_TYPES and name not in ("type",):
            return T.TypeValueT(T.BUILTIN_TYPES[name])
        if name in builtins.FUNCTIONS:
            self.sink.error("PP226", f"`{name}` is a function: call it", expr.span, help=f"write `{name}(...)`")
            return T.UNKNOWN
        hint = suggest(name, list(self.env.locals) + list(self.env.scope.names))
        if isinstance(expected_enum, T.EnumT):
            self.sink.error("PP204", f"`{name}` is not a member of `{expected_enum.name}`", expr.span,
                            help=suggest(name, expected_enum.members) or f"members: {', '.join(expected_enum.members)}")
        else:
            self.sink.error("PP200", f"unknown name `{name}`", expr.span, help=hint, names=(name,))
        return T.UNKNOWN

    def _symbol_value(self, sym: Symbol, node: ast.Node) -> T.Type | FragmentRefT | ModuleRefT:
        if sym.kind == "error":
            return T.UNKNOWN
        if sym.kind in ("record", "enum"):
            assert sym.type is not None  # a record's or enum's type is made when it is declared
            return T.TypeValueT(sym.type)
        if sym.kind == "alias":
            return T.TypeValueT(self.env.resolver.alias_type(sym))
        if sym.kind == "fragment":
            return FragmentRefT(sym)
        if sym.kind == "module":
            return ModuleRefT(sym)
        self.sink.error("PP226", f"`{sym.name}` is a {sym.kind} and has no value here", node.span)
        return T.UNKNOWN

    def _GetAttr(self, expr: ast.GetAttr, expected):
        base = self.type_of(expr.obj)
        attr = expr.attr.name
        inner = T.strip_optional(base)
        if isinstance(inner, (T.UnknownT, T.JsonT)):
            return inner
        if isinstance(inner, T.RecordT):
            field = inner.fields.get(attr)
            if field is None:
                self.sink.error("PP203", f"`{inner.name}` has no field `{attr}`", expr.attr.span,
                                help=suggest(attr, inner.fields) or f"fields: {', '.join(inner.fields) or 'none'}",
                                names=(attr,))
                return T.UNKNOWN
            ftype = field.type if field.required else _optional(field.type)
            return _optional(ftype) if isinstance(base, T.OptionalT) else ftype
        if isinstance(base, T.TypeValueT) and isinstance(base.of, T.EnumT):
            if attr not in base.of.members:
                self.sink.error("PP204", f"`{attr}` is not a member of `{base.of.name}`", expr.attr.span,
                                help=suggest(attr, base.of.members) or f"members: {', '.join(base.of.members)}")
                return T.UNKNOWN
            return base.of
        if isinstance(base, ModuleRefT):
            module_scope = base.symbol.target
            assert module_scope is not None  # a module symbol is bound with its scope
            sym = module_scope.own.get(attr)
            if sym is None:
                self.sink.error("PP208", f"`{attr}` is not declared in module `{base.symbol.name}`", expr.attr.span,
                                help=suggest(attr, module_scope.own))
                return T.UNKNOWN
            return self._symbol_value(sym, expr)
        self.sink.error("PP203", f"a value of type `{base}` has no fields", expr.attr.span, names=(attr,))
        return T.UNKNOWN

    def _GetItem(self, expr: ast.GetItem, expected):
        base = self.type_of(expr.obj)
        index = self.type_of(expr.index)
        inner = T.strip_optional(base)
        if isinstance(inner, (T.UnknownT, T.JsonT)):
            return inner
        if isinstance(inner, (T.ListT, T.MessagesT)):
            if not T.assignable(index, T.INT):
                self.sink.error("PP220", f"a list index must be an int, got `{index}`", expr.index.span)
            item = inner.item if isinstance(inner, T.ListT) else T.MESSAGE_RECORD
            return _optional(item) if isinstance(base, T.OptionalT) else item
        if isinstance(inner, T.MapT):
            if not T.assignable(index, T.STR):
                self.sink.error("PP220", f"a map key must be a str, got `{index}`", expr.index.span)
            return _optional(inner.value)
        if isinstance(inner, T.RecordT) and isinstance(expr.index, ast.Literal) and isinstance(expr.index.value, str):
            return self._GetAttr(ast.GetAttr(obj=expr.obj, attr=ast.Ident(name=expr.index.value, span=expr.index.span),
                                             span=expr.span), expected)
        self.sink.error("PP220", f"a value of type `{base}` cannot be indexed", expr.span)
        return T.UNKNOWN

    def _Call(self, expr: ast.Call, expected):
        callee = self._callee(expr.func)
        if callee is None:
            return T.UNKNOWN
        if isinstance(callee, builtins.Builtin):
            arg_types = self._builtin_args(callee, expr.args, expr.span, callee.name)
            try:
                return callee.typing(None, arg_types)
            except builtins.FilterTypeError as err:
                self.sink.error("PP220", f"`{callee.name}` {err}", expr.span)
                return T.UNKNOWN
        decl: ast.FragmentDecl = callee.decl
        if decl.text is None:
            self.sink.error("PP211", f"`{callee.name}` is a message fragment and cannot be used in text", expr.span,
                            help=f"splice its messages with the statement `use {callee.name}(...)`", names=(callee.name,))
        self.check_call_args(callee, expr.args, expr.span)
        return T.STR

    def _callee(self, func: ast.Expr):
        if isinstance(func, ast.Name) and func.name not in self.env.locals:
            sym = self.env.scope.lookup(func.name)
            if sym is None and func.name in builtins.FUNCTIONS:
                return builtins.FUNCTIONS[func.name]
        ftype = self.type_of(func)
        if isinstance(ftype, FragmentRefT):
            return ftype.symbol
        if not isinstance(ftype, T.UnknownT):
            self.sink.error("PP226", f"a value of type `{ftype}` cannot be called", func.span,
                            help="only fragments and the built-in functions schema, example, notation can be called")
        return None

    def check_call_args(self, fragment: Symbol, args: tuple[ast.Arg, ...], span: Span) -> None:
        """Check arguments against a fragment's (or tool's) parameters."""
        home = self._resolver_for(fragment)
        decl = cast("ast.FragmentDecl | ast.ToolDecl", fragment.decl)
        params = [(p, home.resolve(p.type)) for p in decl.params]
        self.bind_arguments(fragment.name, params, args, span)
        self.env.calls.append((fragment, span))

    def _resolver_for(self, sym: Symbol) -> TypeResolver:
        scopes = self.env.resolver.scopes
        return TypeResolver(scopes.get(sym.module.key, self.env.scope), _NullSink(), scopes)

    def bind_arguments(self, callee: str, params, args, span) -> None:
        """Match positional and named arguments to parameters (PP223-PP225)."""
        by_name = {p.name.name: (p, t) for p, t in params}
        bound: dict[str, ast.Arg] = {}
        positional = [a for a in args if a.name is None]
        if len(positional) > len(params):
            self.sink.error("PP223", f"`{callee}` takes {len(params)} argument{'s' if len(params) != 1 else ''}, "
                            f"got {len(positional)}", span)
        for arg, (param, _t) in zip(positional, params):
            bound[param.name.name] = arg
        for arg in args:
            if arg.name is None:
                continue
            if arg.name.name not in by_name:
                self.sink.error("PP225", f"`{callee}` has no parameter `{arg.name.name}`", arg.name.span,
                                help=suggest(arg.name.name, by_name) or f"its parameters: {', '.join(by_name) or 'none'}")
                continue
            if arg.name.name in bound:
                self.sink.error("PP225", f"`{arg.name.name}` is given twice", arg.name.span)
                continue
            bound[arg.name.name] = arg
        for param, ptype in params:
            arg = bound.get(param.name.name)
            if arg is None:
                if param.default is None and not param.optional:
                    self.sink.error("PP224", f"missing argument `{param.name.name}` of `{callee}`", span,
                                    help=f"pass it: `{param.name.name} = ...`", names=(param.name.name,))
                continue
            self.check_value(arg.value, ptype, f"argument `{param.name.name}` of `{callee}`")

    def _builtin_args(self, fn: builtins.Builtin, args, span, label) -> list[T.Type]:
        if not (fn.min_args <= len(args) <= fn.max_args):
            want = str(fn.min_args) if fn.min_args == fn.max_args else (
                f"{fn.min_args} or {fn.max_args}" if fn.max_args == fn.min_args + 1 else f"{fn.min_args} to {fn.max_args}")
            self.sink.error("PP223", f"`{label}` takes {want} argument{'s' if fn.max_args != 1 else ''}, got {len(args)}",
                            span, help=f"{fn.name}: {fn.doc}" if fn.doc else None)
        types = []
        for arg, declared in zip(args, fn.arg_types):
            if arg.name is not None:
                self.sink.error("PP225", f"`{label}` takes no named arguments", arg.name.span)
            got = self.type_of(arg.value, declared)
            if declared not in (T.META_TYPE, T.JSON) and not T.assignable(got, declared):
                self.sink.error("PP220", f"`{label}` expects `{declared}` here, got `{got}`", arg.value.span)
            types.append(got)
        return types

    def _Filter(self, expr: ast.Filter, expected):
        value = self.type_of(expr.value)
        fn = builtins.FILTERS.get(expr.name.name)
        if fn is None:
            self.sink.error("PP222", f"unknown filter `{expr.name.name}`", expr.name.span,
                            help=suggest(expr.name.name, builtins.FILTERS) or f"filters: {', '.join(builtins.FILTERS)}")
            return T.UNKNOWN
        where = expr.name.span.to(expr.args[-1].span) if expr.args else expr.name.span
        arg_types = self._builtin_args(fn, expr.args, where, fn.name)
        if isinstance(value, T.UnknownT):
            return T.UNKNOWN
        if isinstance(value, (FragmentRefT, ModuleRefT, T.TypeValueT)):
            self.sink.error("PP220", f"`{value}` is not a value and cannot be filtered", expr.value.span,
                            help="call a fragment with `()`; pass a type to schema(), example() or notation()")
            return T.UNKNOWN
        try:
            return fn.typing(value, arg_types + [T.UNKNOWN] * (1 - len(arg_types)) if fn.name == "default" else arg_types)
        except builtins.FilterTypeError as err:
            self.sink.error("PP220", f"filter `{fn.name}` {err}", expr.name.span)
            return T.UNKNOWN

    def _unresolved(self, expr: ast.Expr) -> bool:
        """A bare name that only a typed other side can explain (an enum member)."""
        return (isinstance(expr, ast.Name) and expr.name not in self.env.locals
                and self.env.scope.names.get(expr.name) is None and expr.name not in T.BUILTIN_TYPES)

    def _Compare(self, expr: ast.Compare, expected):
        if expr.op not in ("in", "not in") and self._unresolved(expr.left) and not self._unresolved(expr.right):
            right = self.type_of(expr.right)
            left = self.type_of(expr.left, expected=right)
            return self._compare_types(expr, left, right)
        left = self.type_of(expr.left)
        if expr.op in ("in", "not in"):
            choice = T.strip_optional(left)
            hint = T.ListT(choice) if isinstance(choice, (T.EnumT, T.LiteralT)) else None
            right = self.type_of(expr.right, expected=hint)
            inner = T.strip_optional(right)
            if isinstance(inner, (T.ListT,)):
                if isinstance(expr.right, ast.ListLit) and isinstance(choice, (T.EnumT, T.LiteralT)):
                    for item in expr.right.items:
                        if isinstance(item, ast.Literal) and isinstance(item.value, str):
                            self._enum_literal(choice, item)
                self._enum_operand(expr.left, inner.item)
            elif isinstance(inner, T.LiteralT) or inner == T.STR or isinstance(inner, (T.MapT, T.JsonT, T.UnknownT)):
                pass
            else:
                self.sink.error("PP220", f"`in` needs a list, a map or text on the right, got `{right}`", expr.right.span)
            return T.BOOL
        right = self.type_of(expr.right, expected=left)
        return self._compare_types(expr, left, right)

    def _compare_types(self, expr: ast.Compare, left: T.Type, right: T.Type) -> T.Type:
        if isinstance(left, T.UnknownT) or isinstance(right, T.UnknownT):
            return T.BOOL
        if left is TARGET_RECORD and right == T.STR or right is TARGET_RECORD and left == T.STR:
            return T.BOOL  # `target == "anthropic"` compares the target name
        if expr.op in ("==", "!="):
            choices = (T.EnumT, T.LiteralT)
            l, r = T.strip_optional(left), T.strip_optional(right)
            if isinstance(l, choices) and isinstance(expr.right, ast.Literal) and expr.right.value is not None:
                self._enum_literal(l, expr.right)
            elif isinstance(r, choices) and isinstance(expr.left, ast.Literal) and expr.left.value is not None:
                self._enum_literal(r, expr.left)
            elif not T.comparable(left, right):
                self.sink.error("PP220", f"comparing `{left}` with `{right}` is always "
                                f"{'false' if expr.op == '==' else 'true'}", expr.span)
            return T.BOOL
        ordered = {T.INT, T.FLOAT}
        l, r = T.strip_optional(left), T.strip_optional(right)
        if not ((l in ordered and r in ordered) or (l == r == T.STR) or isinstance(l, T.JsonT) or isinstance(r, T.JsonT)):
            self.sink.error("PP220", f"`{expr.op}` needs two numbers or two strings, got `{left}` and `{right}`",
                            expr.span)
        return T.BOOL

    def _enum_operand(self, node, item):
        if isinstance(item, T.EnumT) and isinstance(node, ast.Literal) and isinstance(node.value, str):
            self._enum_literal(item, node)

    def _enum_literal(self, enum, literal: ast.Literal) -> None:
        """A literal compared with an enum or a literal union must be one of its values."""
        if isinstance(enum, T.LiteralT):
            if literal.value not in enum.values:
                self.sink.error("PP220", f"`{json.dumps(literal.value)}` is not one of {enum}", literal.span,
                                help=suggest(str(literal.value), [str(v) for v in enum.values]))
            return
        if literal.value not in enum.members:
            self.sink.error("PP204", f"`{literal.value}` is not a member of `{enum.name}`", literal.span,
                            help=suggest(str(literal.value), enum.members) or f"members: {', '.join(enum.members)}")

    def _And(self, expr, expected):
        for item in expr.items:
            self.type_of(item)
        return T.BOOL

    _Or = _And

    def _Not(self, expr, expected):
        self.type_of(expr.operand)
        return T.BOOL

    def _ListLit(self, expr: ast.ListLit, expected):
        wanted = T.strip_optional(expected)
        item_expected = wanted.item if isinstance(wanted, T.ListT) else None
        items = [self.type_of(i, item_expected) for i in expr.items]
        if not items:
            return T.ListT(T.UNKNOWN)
        first = items[0]
        return T.ListT(first if all(i == first or i is first for i in items) else T.JSON)

    def _RecordLit(self, expr: ast.RecordLit, expected):
        for _key, value in expr.entries:
            self.type_of(value)
        return T.MapT(T.JSON)

    # ---------------------------------------------------------------- values
    def check_value(self, expr: ast.Expr, expected: T.Type, what: str | None = None) -> None:
        """Check that `expr` fits `expected`, looking into list and record literals.

        `what` names the value in messages ("input `ticket`", "argument `x` of `f`").
        """
        target = T.strip_optional(expected)
        prefix = f"{what}: " if what else ""
        if isinstance(expr, ast.Literal) and expr.value is None:
            if not isinstance(expected, (T.OptionalT, T.JsonT, T.UnknownT)):
                self.sink.error("PP220", f"`null` is not a `{expected}`", expr.span, help="declare the type optional with `?`")
            return
        if isinstance(expr, ast.RecordLit) and isinstance(target, T.RecordT):
            self._check_record(expr, target)
            return
        if isinstance(expr, ast.RecordLit) and isinstance(target, T.MapT):
            for _k, v in expr.entries:
                self.check_value(v, target.value)
            return
        if isinstance(expr, ast.ListLit) and isinstance(target, T.MessagesT):
            for item in expr.items:
                self.check_value(item, T.MESSAGE_RECORD)
            return
        if isinstance(expr, ast.ListLit) and isinstance(target, T.ListT):
            for item in expr.items:
                self.check_value(item, target.item)
            return
        if isinstance(expr, ast.Literal) and isinstance(expr.value, str) and isinstance(target, T.EnumT):
            self._enum_literal(target, expr)
            return
        if isinstance(expr, ast.Literal) and isinstance(target, T.LiteralT):
            if expr.value not in target.values:
                self.sink.error("PP220", f"{prefix}`{json.dumps(expr.value)}` is not one of {target}", expr.span)
            return
        if isinstance(expr, ast.Literal) and isinstance(target, T.MediaT) and isinstance(expr.value, str):
            return  # a URL, data: URI or path
        got = self.type_of(expr, expected)
        if not T.assignable(got, expected):
            self.sink.error("PP220", f"{prefix}expected `{expected}`, got `{got}`", expr.span)

    def _check_record(self, expr: ast.RecordLit, record: T.RecordT) -> None:
        seen = set()
        for key, value in expr.entries:
            field = record.fields.get(key.name)
            if field is None:
                self.sink.error("PP203", f"`{record.name}` has no field `{key.name}`", key.span,
                                help=suggest(key.name, record.fields) or f"fields: {', '.join(record.fields)}",
                                names=(key.name,))
                continue
            seen.add(key.name)
            self.check_value(value, field.type)
        missing = [f for f in record.fields.values() if f.required and f.name not in seen]
        if missing:
            names = ", ".join(f"`{f.name}`" for f in missing)
            self.sink.error("PP224", f"missing field{'s' if len(missing) > 1 else ''} {names} of `{record.name}`", expr.span,
                            names=tuple(f.name for f in missing))

    # ---------------------------------------------------------------- templates
    def check_template(self, template: ast.Template) -> None:
        """Check the interpolations and tags of a text template."""
        self._pieces(template.pieces)

    def _pieces(self, pieces) -> None:
        for piece in pieces:
            if isinstance(piece, ast.Interp):
                t = self.type_of(piece.expr)
                if isinstance(t, (FragmentRefT, ModuleRefT, T.TypeValueT)):
                    self.sink.error("PP230", f"`{t}` is not a value", piece.expr.span,
                                    help="call a fragment with `()`; pass a type to schema(), example() or notation()")
                elif not T.is_text_like(t):
                    self.sink.error("PP230", f"a value of type `{t}` cannot be interpolated as text", piece.expr.span,
                                    help="format it with a filter: `| json`, `| join(\", \")` or `| bullets`")
            elif isinstance(piece, ast.IfBlock):
                self.check_branches(piece.branches, piece.orelse, self._pieces_in)
            elif isinstance(piece, ast.ForBlock):
                if piece.var.name in RESERVED_NAMES:
                    self.sink.error("PP213", f"`{piece.var.name}` is a reserved word and cannot name a value",
                                    piece.var.span, help=f"choose another name, such as `{piece.var.name}_`")
                item = self.loop_item(piece.iterable)
                ExprChecker(self.env.child({piece.var.name: item}))._pieces(piece.body)

    def _pieces_in(self, body) -> None:
        self._pieces(body)

    def loop_item(self, iterable: ast.Expr) -> T.Type:
        """The type of one item of `iterable` in a `for` loop (PP221 when it cannot be looped over)."""
        t = self.type_of(iterable)
        inner = T.strip_optional(t)
        if isinstance(inner, T.ListT):
            return inner.item
        if isinstance(inner, T.MessagesT):
            return T.MESSAGE_RECORD
        if isinstance(inner, (T.JsonT, T.UnknownT)):
            return inner
        self.sink.error("PP221", f"cannot loop over a value of type `{t}`", iterable.span,
                        help="`for` needs a list")
        return T.UNKNOWN

    def check_branches(self, branches, orelse, check_body) -> None:
        """Type the conditions, check the bodies, warn about unreachable branches."""
        earlier: list[ast.Expr] = []
        decided = False
        for cond, body in branches:
            self.type_of(cond)
            truth = truth_of(cond)
            if decided:
                self.sink.warning("PP241", "this branch is never reached: an earlier condition is always true",
                                  cond.span)
            elif truth is False:
                self.sink.warning("PP241", "this branch is never taken: its condition is always false", cond.span,
                                  help="remove the branch, or make the condition depend on an input")
            elif any(cond == prior for prior in earlier):
                self.sink.warning("PP241", "this branch is never taken: an earlier branch has the same condition",
                                  cond.span)
            decided = decided or truth is True
            earlier.append(cond)
            check_body(body)
        if orelse is not None:
            check_body(orelse)


def _optional(t: T.Type) -> T.Type:
    return t if isinstance(t, (T.OptionalT, T.UnknownT, T.JsonT)) else T.OptionalT(t)


class _NullSink(Sink):
    """Swallows diagnostics: a callee's parameter types were checked at its declaration."""

    def add(self, diagnostic) -> None:
        pass
