"""Compile-time values of names: types, enum members, fragments, imported modules.

A name that is not a local (a parameter or a loop variable) means the same thing in every render:
`Category` is a type, `Category.bug` or a bare `bug` an enum member (its name), `output` in
`output.typed` a fragment. `Statics.value` gives that value, so generated code can fold it.
"""
from __future__ import annotations

from typing import Any

from . import ast
from . import types as T
from .check.names import ModuleScope, Symbol, TypeResolver
from .diagnostics import Sink

#: what `Statics.value` gives for a name that has no compile-time value
MISSING: Any = object()


class FragmentRef:
    """A fragment as a compile-time value (what `output` in `output.typed` names)."""

    def __init__(self, symbol: Symbol):
        self.symbol = symbol


class Statics:
    """The compile-time values of the names of one module."""

    def __init__(self, scope: ModuleScope, scopes: dict[str, ModuleScope]):
        self.scope, self.scopes = scope, scopes
        self.types = TypeResolver(scope, Sink(), scopes)

    def for_module(self, module_key: str) -> "Statics":
        """The same for another module (a fragment's own, when it is called from elsewhere)."""
        return Statics(self.scopes[module_key], self.scopes)

    def value(self, e: ast.Expr, locals_) -> Any:
        """The compile-time value of a name or attribute, or MISSING."""
        if isinstance(e, ast.Name) and e.name not in locals_:
            sym = self.scope.names.get(e.name)
            if sym is None:
                if e.name in T.BUILTIN_TYPES:
                    return T.BUILTIN_TYPES[e.name]
                return e.name  # a bare enum member (the checker allowed it)
            return self._symbol(sym)
        if isinstance(e, ast.GetAttr):
            base = self.value(e.obj, locals_)
            if isinstance(base, T.EnumT):
                return e.attr.name
            if isinstance(base, ModuleScope):
                return self.for_module(base.module.key)._symbol(base.own[e.attr.name])
        return MISSING

    def _symbol(self, sym: Symbol) -> Any:
        if sym.kind in ("record", "enum"):
            return sym.type
        if sym.kind == "alias":
            return self.types.alias_type(sym)
        if sym.kind == "fragment":
            return FragmentRef(sym)
        if sym.kind == "module":
            return sym.target
        return MISSING
