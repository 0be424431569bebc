"""The abstract syntax tree: frozen attrs nodes, one per construct.

Every node has a `span` that takes no part in `==`, so two trees parsed from
differently formatted sources compare equal. Children are tuples, never lists.
Rewrites use `attrs.evolve`. Checks live in `compiler/check/`, not here.
"""
from __future__ import annotations

from typing import Union

import attrs

from .span import Span

# Every node class is `@attrs.frozen(kw_only=True, slots=False, repr=False)`, spelled out (not
# an alias) so that mypy's attrs plugin sees it. No generated __repr__ (Node has one):
# generating it for every class costs more start-up time than all other methods together.


def _span() -> Span:
    return attrs.field(eq=False, repr=False, default=None)


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Node:
    """Base of every node."""

    span: Span = _span()

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in attrs.fields(type(self)) if f.repr and f.eq)
        return f"{type(self).__name__}({fields})"


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Ident(Node):
    """A name as written, with its own span (for precise diagnostics)."""

    name: str


# ---------------------------------------------------------------- expressions


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Expr(Node):
    pass


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Name(Expr):
    name: str


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Literal(Expr):
    """A string, number, boolean or null constant.

    `block` keeps a triple-quoted string as written (the formatter re-indents it).
    """

    value: Union[str, int, float, bool, None]
    block: str | None = attrs.field(default=None, eq=False)


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ListLit(Expr):
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class RecordLit(Expr):
    entries: tuple[tuple[Ident, Expr], ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class GetAttr(Expr):
    obj: Expr
    attr: Ident


@attrs.frozen(kw_only=True, slots=False, repr=False)
class GetItem(Expr):
    obj: Expr
    index: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Arg(Node):
    """A call argument; `name` is set for `name = value`."""

    name: Ident | None
    value: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Call(Expr):
    func: Expr
    args: tuple[Arg, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Filter(Expr):
    """`value | name(args)`."""

    value: Expr
    name: Ident
    args: tuple[Arg, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Compare(Expr):
    """`left op right`; op is one of == != < <= > >= in, not in."""

    op: str
    left: Expr
    right: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class And(Expr):
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Or(Expr):
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Not(Expr):
    operand: Expr


# ---------------------------------------------------------------- text


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Text(Node):
    """Literal text, escapes decoded, dedent and line rules applied."""

    value: str


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Interp(Node):
    """`{{ expr }}`."""

    expr: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class IfBlock(Node):
    """`{% if %}...{% elif %}...{% else %}...{% end %}` inside a string."""

    branches: tuple[tuple[Expr, tuple["Piece", ...]], ...]
    orelse: tuple["Piece", ...] | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ForBlock(Node):
    """`{% for x in xs %}...{% end %}` inside a string."""

    var: Ident
    iterable: Expr
    body: tuple["Piece", ...]


Piece = Union[Text, Interp, IfBlock, ForBlock]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Template(Node):
    """A string with text syntax: a message body or a text fragment.

    `raw` is the token as written (quotes included): the formatter prints it
    back so text is never reflowed. `trim_end` asks the renderer to drop one
    trailing newline (a block string that ends inside a `{% %}` block).
    """

    pieces: tuple[Piece, ...]
    raw: str = attrs.field(eq=False)
    block: bool
    trim_end: bool = False


# ---------------------------------------------------------------- types


@attrs.frozen(kw_only=True, slots=False, repr=False)
class TypeExpr(Node):
    pass


@attrs.frozen(kw_only=True, slots=False, repr=False)
class NamedType(TypeExpr):
    name: str


@attrs.frozen(kw_only=True, slots=False, repr=False)
class GenericType(TypeExpr):
    name: str
    args: tuple[TypeExpr, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class LiteralType(TypeExpr):
    value: Union[str, int, float]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class OptionalType(TypeExpr):
    inner: TypeExpr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class UnionType(TypeExpr):
    options: tuple[TypeExpr, ...]


# ---------------------------------------------------------------- declarations


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Decl(Node):
    name: Ident


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ImportName(Node):
    name: Ident
    alias: Ident | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Import(Node):
    """`import std.output`, `import "./x.prompt" as x { a, b as c }`."""

    module: str | None
    path: str | None
    alias: Ident | None
    names: tuple[ImportName, ...] | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Field(Node):
    name: Ident
    optional: bool
    type: TypeExpr
    default: Expr | None
    description: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class RecordDecl(Decl):
    description: str | None
    fields: tuple[Field, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class AliasDecl(Decl):
    type: TypeExpr
    description: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class EnumMember(Node):
    name: Ident
    description: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class EnumDecl(Decl):
    description: str | None
    members: tuple[EnumMember, ...]


Param = Field


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ToolDecl(Decl):
    params: tuple[Param, ...]
    returns: TypeExpr | None
    description: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class PromptDecl(Decl):
    params: tuple[Param, ...]
    returns: TypeExpr | None
    body: tuple["Stmt", ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class FragmentDecl(Decl):
    """A reusable text (`text` set) or a reusable run of messages (`body` set)."""

    params: tuple[Param, ...]
    text: Template | None
    body: tuple["Stmt", ...] | None


# ---------------------------------------------------------------- statements


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Setting(Node):
    name: Ident
    value: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ModelStmt(Node):
    model: str | None
    settings: tuple[Setting, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ToolsStmt(Node):
    tools: tuple[Ident, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Media(Node):
    """`image(expr)`, `audio(expr)`, `file(expr)` inside a message."""

    kind: str
    expr: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Message(Node):
    role: str
    parts: tuple[Union[Template, Media], ...]
    braced: bool


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ToolCall(Node):
    tool: Ident
    args: tuple[Arg, ...]
    call_id: Expr | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ToolResult(Node):
    tool: Ident
    call_id: Expr | None
    parts: tuple[Union[Template, Media], ...]
    braced: bool


@attrs.frozen(kw_only=True, slots=False, repr=False)
class History(Node):
    param: Ident | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Cache(Node):
    ttl: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Budget(Node):
    tokens: int


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Priority(Node):
    level: int
    body: tuple["Stmt", ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Use(Node):
    """`use fragment(args)`: splice a message fragment."""

    fragment: tuple[Ident, ...]
    args: tuple[Arg, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class For(Node):
    var: Ident
    iterable: Expr
    body: tuple["Stmt", ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class If(Node):
    branches: tuple[tuple[Expr, tuple["Stmt", ...]], ...]
    orelse: tuple["Stmt", ...] | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class TargetBlock(Node):
    """`target "anthropic" { ... }` inside a prompt: statements for one target."""

    target: str
    body: tuple["Stmt", ...]


Stmt = Union[ModelStmt, ToolsStmt, Message, ToolCall, ToolResult, History, Cache, Budget,
             Priority, Use, For, If, TargetBlock]


# ---------------------------------------------------------------- tests, datasets, targets


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Binding(Node):
    name: Ident
    value: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Expect(Node):
    expr: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Reply(Node):
    value: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class TestDecl(Node):
    prompt: Ident
    title: str | None
    items: tuple[Union[Binding, Expect, Reply], ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Split(Node):
    name: Ident
    percent: float
    seed: int | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Where(Node):
    expr: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Limit(Node):
    count: int


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Weight(Node):
    value: float


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Teacher(Node):
    target: str


@attrs.frozen(kw_only=True, slots=False, repr=False)
class DatasetDecl(Node):
    prompt: Ident
    title: str | None
    source: str
    items: tuple[Union[Binding, Split, Where, Limit, Weight, Teacher], ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Caps(Node):
    settings: tuple[Setting, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class TargetDecl(Decl):
    """`target local "openai-compatible" { model "x"  base_url: "..."  caps { tools: false } }`."""

    backend: str
    items: tuple[Union[ModelStmt, Caps, Setting], ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Comment(Node):
    """A `//` comment, kept for the formatter."""

    text: str


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Module(Node):
    """One parsed file."""

    decls: tuple[Node, ...]
    comments: tuple[Comment, ...] = ()
    #: lines skipped by syntax-error recovery (see compiler.parse)
    skipped: tuple[Span, ...] = attrs.field(default=(), eq=False)
