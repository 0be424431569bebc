"""Name resolution: each module's symbols, its imports, and its declared types.

`build_scopes` declares every top-level name (PP201 on a duplicate), binds
imports (PP208 for a name the module lacks), then resolves every type
expression to a `compiler.types` type (PP202 unknown, PP227 invalid).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, cast

import attrs

from .. import ast
from .. import types as T
from ..targets import did_you_mean
from ..diagnostics import Sink
from ..loader import LoadedModule, Program
from .consts import constant_value, is_constant, is_member_ref

DECL_KINDS = {
    ast.RecordDecl: "record", ast.AliasDecl: "alias", ast.EnumDecl: "enum", ast.ToolDecl: "tool",
    ast.PromptDecl: "prompt", ast.FragmentDecl: "fragment", ast.TargetDecl: "target",
}
TYPE_KINDS = ("record", "alias", "enum")


@attrs.define(eq=False)
class Symbol:
    """A declared or imported name of a module: its kind, declaration, home module and, for types, its type."""
    name: str
    kind: str  # record alias enum tool prompt fragment target module, or error (a failed import)
    decl: object  # the declaring node (an Import for module symbols)
    module: LoadedModule
    type: T.Type | None = None  # for record, alias and enum
    target: "ModuleScope | None" = None  # for module symbols
    _resolving: bool = False  # an alias being resolved (cycle guard)


@attrs.define(eq=False)
class ModuleScope:
    """The names of one module: its own declarations (its exports), the imported ones, and those used."""
    module: LoadedModule
    own: dict[str, Symbol] = attrs.field(factory=dict)  # declared here: the exports
    names: dict[str, Symbol] = attrs.field(factory=dict)  # own + imported
    used: set[str] = attrs.field(factory=set)
    import_bindings: list[tuple[str, ast.Node]] = attrs.field(factory=list)

    def lookup(self, name: str) -> Symbol | None:
        """The symbol of `name`, marked as used, or None when the module has no such name."""
        sym = self.names.get(name)
        if sym is not None:
            self.used.add(name)
        return sym


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """`did you mean `x`?` for the closest candidate, if one is close."""
    return did_you_mean(name, candidates)


def build_scopes(program: Program, sink: Sink) -> dict[str, ModuleScope]:
    """The scope of every module of the program: declarations, then imports, then the declared types resolved."""
    scopes = {key: ModuleScope(module) for key, module in program.modules.items()}
    for scope in scopes.values():
        _declare(scope, sink)
    for scope in scopes.values():
        _bind_imports(scope, scopes, sink)
    for scope in scopes.values():
        TypeResolver(scope, sink, scopes).resolve_declarations()
    return scopes


def _declare(scope: ModuleScope, sink: Sink) -> None:
    for node in scope.module.tree.decls:
        kind = DECL_KINDS.get(type(node))
        if kind is None:
            continue
        decl = cast(ast.Decl, node)  # every kind of DECL_KINDS is a Decl
        name = decl.name.name
        if name in scope.own:
            first = cast(ast.Decl, scope.own[name].decl).name.span
            line = first.start_line_col[0]
            sink.error("PP201", f"`{name}` is already declared on line {line}", decl.name.span,
                       help="rename one of the declarations")
            continue
        if (name in T.BUILTIN_TYPES or name in T.GENERICS) and kind in TYPE_KINDS:
            # reported, then declared anyway: uses of the name mean this declaration
            sink.error("PP201", f"`{name}` is a built-in type", decl.name.span, help="choose another name")
        sym = Symbol(name, kind, decl, scope.module)
        if isinstance(decl, ast.RecordDecl):
            sym.type = T.RecordT(name, description=decl.description)
        elif isinstance(decl, ast.EnumDecl):
            sym.type = T.EnumT(name, description=decl.description)
        scope.own[name] = sym
    scope.names.update(scope.own)


def _bind_imports(scope: ModuleScope, scopes: dict[str, ModuleScope], sink: Sink) -> None:
    for decl, target in scope.module.imports:
        if target is None:  # already reported: its names stand for errors, not unknowns
            for item in decl.names or ():
                _bind_error(scope, (item.alias or item.name).name, decl)
            if decl.alias is not None or decl.names is None:
                name = decl.alias.name if decl.alias else (decl.module or decl.path or "").split(".")[-1]
                _bind_error(scope, Path(name).stem, decl)
            continue
        other = scopes[target.key]
        if decl.names is None or decl.alias is not None:
            # an import names a dotted module or a quoted path: without the module, the path is set
            alias = decl.alias.name if decl.alias else (decl.module.split(".")[-1] if decl.module
                                                        else Path(cast(str, decl.path)).stem)
            if not alias.isidentifier():  # only a path's stem can be one (names are identifiers)
                sink.error("PP208", f"`{alias}` cannot be used as a module name", decl.span,
                           help="name it: `import \"...\" as name`, or import names with `{ a, b }`")
            else:
                _bind(scope, alias, Symbol(alias, "module", decl, target, target=other), decl.alias or decl, sink)
        for item in decl.names or ():
            sym = other.own.get(item.name.name)
            if sym is None:
                sink.error("PP208", f"`{item.name.name}` is not declared in `{decl.module or decl.path}`",
                           item.name.span, help=suggest(item.name.name, other.own)
                           or f"it declares: {', '.join(sorted(other.own)) or 'nothing'}")
                _bind_error(scope, (item.alias or item.name).name, decl)
                continue
            local = item.alias or item.name
            _bind(scope, local.name, sym, local, sink)


def _bind_error(scope: ModuleScope, name: str, decl: ast.Import) -> None:
    """Stand-in for a name whose import failed: uses of it are not reported again."""
    if name.isidentifier() and name not in scope.names:
        scope.names[name] = Symbol(name, "error", decl, scope.module, type=T.UNKNOWN)


def _bind(scope: ModuleScope, name: str, sym: Symbol, node: ast.Node, sink: Sink) -> None:
    if name in scope.names:
        sink.error("PP201", f"`{name}` is already declared in this file", node.span,
                   help="import it under another name with `as`")
        return
    scope.names[name] = sym
    scope.import_bindings.append((name, node))


class TypeResolver:
    """Resolves type expressions in one module's scope."""

    def __init__(self, scope: ModuleScope, sink: Sink, scopes: dict[str, ModuleScope]):
        self.scope, self.sink, self.scopes = scope, sink, scopes

    def resolve_declarations(self) -> None:
        """Fill in the fields of the module's records and enums and resolve its type aliases."""
        for sym in list(self.scope.own.values()):
            decl = sym.decl
            if sym.kind == "record":
                self._fill_record(cast(T.RecordT, sym.type), cast(ast.RecordDecl, decl))
            elif sym.kind == "enum":
                self._fill_enum(cast(T.EnumT, sym.type), cast(ast.EnumDecl, decl))
            elif sym.kind == "alias" and sym.type is None:
                self.alias_type(sym)

    def _fill_record(self, record: T.RecordT, decl: ast.RecordDecl) -> None:
        for field in decl.fields:
            name = field.name.name
            if name in record.fields:
                self.sink.error("PP212", f"field `{name}` is declared twice in `{record.name}`", field.name.span,
                                help="rename or remove one of them")
                continue
            ftype = self.resolve(field.type, allow_meta=False)
            record.fields[name] = T.FieldT(name, ftype, required=not field.optional and field.default is None,
                                           description=field.description)
            if field.default is not None:
                if is_constant(field.default) or (isinstance(ftype, T.EnumT) and is_member_ref(field.default)):
                    record.fields[name].default = constant_value(field.default)
                    record.fields[name].has_default = True

    def _fill_enum(self, enum: T.EnumT, decl: ast.EnumDecl) -> None:
        for member in decl.members:
            if member.name.name in enum.members:
                self.sink.error("PP212", f"member `{member.name.name}` is listed twice in `{enum.name}`",
                                member.name.span, help="remove the repeated member")
                continue
            enum.members[member.name.name] = member.description
        if not decl.members:
            self.sink.error("PP227", f"enum `{enum.name}` has no members", decl.name.span,
                            help="list the members: `enum Color { red, green }`")

    def alias_type(self, sym: Symbol) -> T.Type:
        """The type an alias stands for, resolved once (UNKNOWN and PP227 when it refers to itself)."""
        if sym.type is not None:
            return sym.type
        decl = cast(ast.AliasDecl, sym.decl)
        if sym._resolving:
            self.sink.error("PP227", f"type alias `{sym.name}` refers to itself", decl.name.span,
                            help="use a record type for recursive data")
            sym.type = T.UNKNOWN
            return T.UNKNOWN
        sym._resolving = True
        home = self.scopes.get(sym.module.key, self.scope)
        resolved = TypeResolver(home, self.sink, self.scopes).resolve(decl.type, allow_meta=False)
        sym._resolving = False
        sym.type = resolved
        return resolved

    def resolve(self, texpr: ast.TypeExpr, allow_meta: bool = True) -> T.Type:
        """The type an expression denotes; UNKNOWN after reporting an error."""
        if isinstance(texpr, ast.NamedType):
            return self._named(texpr, allow_meta)
        if isinstance(texpr, ast.GenericType):
            return self._generic(texpr)
        if isinstance(texpr, ast.OptionalType):
            inner = self.resolve(texpr.inner, allow_meta=False)
            return inner if isinstance(inner, (T.OptionalT, T.UnknownT)) else T.OptionalT(inner)
        if isinstance(texpr, ast.LiteralType):
            return T.LiteralT((texpr.value,))
        if isinstance(texpr, ast.UnionType):
            return self._union(texpr)
        return T.UNKNOWN

    def _named(self, texpr: ast.NamedType, allow_meta: bool) -> T.Type:
        name = texpr.name
        if name in T.BUILTIN_TYPES and name not in self.scope.own:
            if name == "type" and not allow_meta:
                self.sink.error("PP227", "`type` is only valid for a fragment parameter", texpr.span)
                return T.UNKNOWN
            return T.BUILTIN_TYPES[name]
        if name in T.GENERICS:
            self.sink.error("PP227", f"`{name}` needs an item type", texpr.span, help=f"write `{name}[str]`")
            return T.UNKNOWN
        sym = self.scope.lookup(name)
        if sym is not None and sym.kind == "error":
            return T.UNKNOWN
        if sym is None or sym.kind not in TYPE_KINDS:
            what = f"`{name}` is a {sym.kind}, not a type" if sym else f"unknown type `{name}`"
            candidates = [n for n, s in self.scope.names.items() if s.kind in TYPE_KINDS] + list(T.BUILTIN_TYPES)
            self.sink.error("PP202", what, texpr.span, help=suggest(name, candidates), names=(name,))
            return T.UNKNOWN
        if sym.kind == "alias":
            return self.alias_type(sym)
        assert sym.type is not None  # a record's or enum's type is made when it is declared
        return sym.type

    def _generic(self, texpr: ast.GenericType) -> T.Type:
        if texpr.name not in T.GENERICS:
            self.sink.error("PP227", f"`{texpr.name}` takes no type arguments", texpr.span,
                            help="generic types are `list[T]` and `map[T]`")
            return T.UNKNOWN
        if len(texpr.args) != 1:
            self.sink.error("PP227", f"`{texpr.name}` takes one type argument, got {len(texpr.args)}", texpr.span,
                            help="map keys are always strings: write `map[V]`" if texpr.name == "map" else None)
            return T.UNKNOWN
        item = self.resolve(texpr.args[0], allow_meta=False)
        return T.ListT(item) if texpr.name == "list" else T.MapT(item)

    def _union(self, texpr: ast.UnionType) -> T.Type:
        values: list = []
        for option in texpr.options:
            if not isinstance(option, ast.LiteralType):
                self.sink.error("PP227", "a union may only list literal values", option.span,
                                help='write a literal union like `"c" | "f"`, or declare an enum')
                return T.UNKNOWN
            if option.value in values:
                self.sink.error("PP212", f"`{json.dumps(option.value)}` is listed twice in the union", option.span,
                                help="remove the repeated value")
                continue
            values.append(option.value)
        return T.LiteralT(tuple(values))
