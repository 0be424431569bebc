"""The abstract syntax tree: frozen attrs nodes, one per construct.

Every node has a `span` that takes no part in `==`, so two trees parsed from
differently formatted sources compare equal. Children are tuples, never lists.
Rewrites use `attrs.evolve`. Checks live in `compiler/check/`, not here.
"""
from __future__ import annotations

from typing import Union

import attrs

from .span import Span

# No generated __repr__ (Node has one): generating it for every class costs
# more start-up time than all other methods together.
node = attrs.frozen(kw_only=True, slots=False, repr=False)


def _span() -> Span:
    return attrs.field(eq=False, repr=False, default=None)


@node
class Node:
    """Base of every node."""

    span: Span = _span()

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in attrs.fields(type(self)) if f.repr and f.eq)
        return f"{type(self).__name__}({fields})"


@node
class Ident(Node):
    """A name as written, with its own span (for precise diagnostics)."""

    name: str


# ---------------------------------------------------------------- expressions


@node
class Expr(Node):
    pass


@node
class Name(Expr):
    name: str


@node
class Literal(Expr):
    """A string, number, boolean or null constant.

    `block` keeps a triple-quoted string as written (the formatter re-indents it).
    """

    value: Union[str, int, float, bool, None]
    block: str | None = attrs.field(default=None, eq=False)


@node
class ListLit(Expr):
    items: tuple[Expr, ...]


@node
class RecordLit(Expr):
    entries: tuple[tuple[Ident, Expr], ...]


@node
class GetAttr(Expr):
    obj: Expr
    attr: Ident


@node
class GetItem(Expr):
    obj: Expr
    index: Expr


@node
class Arg(Node):
    """A call argument; `name` is set for `name = value`."""

    name: Ident | None
    value: Expr


@node
class Call(Expr):
    func: Expr
    args: tuple[Arg, ...]


@node
class Filter(Expr):
    """`value | name(args)`."""

    value: Expr
    name: Ident
    args: tuple[Arg, ...]


@node
class Compare(Expr):
    """`left op right`; op is one of == != < <= > >= in, not in."""

    op: str
    left: Expr
    right: Expr


@node
class And(Expr):
    items: tuple[Expr, ...]


@node
class Or(Expr):
    items: tuple[Expr, ...]


@node
class Not(Expr):
    operand: Expr


# ---------------------------------------------------------------- text


@node
class Text(Node):
    """Literal text, escapes decoded, dedent and line rules applied."""

    value: str


@node
class Interp(Node):
    """`{{ expr }}`."""

    expr: Expr


@node
class IfBlock(Node):
    """`{% if %}...{% elif %}...{% else %}...{% end %}` inside a string."""

    branches: tuple[tuple[Expr, tuple["Piece", ...]], ...]
    orelse: tuple["Piece", ...] | None


@node
class ForBlock(Node):
    """`{% for x in xs %}...{% end %}` inside a string."""

    var: Ident
    iterable: Expr
    body: tuple["Piece", ...]


Piece = Union[Text, Interp, IfBlock, ForBlock]


@node
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


@node
class TypeExpr(Node):
    pass


@node
class NamedType(TypeExpr):
    name: str


@node
class GenericType(TypeExpr):
    name: str
    args: tuple[TypeExpr, ...]


@node
class LiteralType(TypeExpr):
    value: Union[str, int, float]


@node
class OptionalType(TypeExpr):
    inner: TypeExpr


@node
class UnionType(TypeExpr):
    options: tuple[TypeExpr, ...]


# ---------------------------------------------------------------- declarations


@node
class Decl(Node):
    name: Ident


@node
class ImportName(Node):
    name: Ident
    alias: Ident | None


@node
class Import(Node):
    """`import std.output`, `import "./x.prompt" as x { a, b as c }`."""

    module: str | None
    path: str | None
    alias: Ident | None
    names: tuple[ImportName, ...] | None


@node
class Field(Node):
    name: Ident
    optional: bool
    type: TypeExpr
    default: Expr | None
    description: str | None


@node
class RecordDecl(Decl):
    description: str | None
    fields: tuple[Field, ...]


@node
class AliasDecl(Decl):
    type: TypeExpr
    description: str | None


@node
class EnumMember(Node):
    name: Ident
    description: str | None


@node
class EnumDecl(Decl):
    description: str | None
    members: tuple[EnumMember, ...]


Param = Field


@node
class ToolDecl(Decl):
    params: tuple[Param, ...]
    returns: TypeExpr | None
    description: str | None


@node
class PromptDecl(Decl):
    params: tuple[Param, ...]
    returns: TypeExpr | None
    body: tuple["Stmt", ...]


@node
class FragmentDecl(Decl):
    """A reusable text (`text` set) or a reusable run of messages (`body` set)."""

    params: tuple[Param, ...]
    text: Template | None
    body: tuple["Stmt", ...] | None


# ---------------------------------------------------------------- statements


@node
class Setting(Node):
    name: Ident
    value: Expr


@node
class ModelStmt(Node):
    model: str | None
    settings: tuple[Setting, ...]


@node
class ToolsStmt(Node):
    tools: tuple[Ident, ...]


@node
class Media(Node):
    """`image(expr)`, `audio(expr)`, `file(expr)` inside a message."""

    kind: str
    expr: Expr


@node
class Message(Node):
    role: str
    parts: tuple[Union[Template, Media], ...]
    braced: bool


@node
class ToolCall(Node):
    tool: Ident
    args: tuple[Arg, ...]
    call_id: Expr | None


@node
class ToolResult(Node):
    tool: Ident
    call_id: Expr | None
    parts: tuple[Union[Template, Media], ...]
    braced: bool


@node
class History(Node):
    param: Ident | None


@node
class Cache(Node):
    ttl: str | None


@node
class Budget(Node):
    tokens: int


@node
class Priority(Node):
    level: int
    body: tuple["Stmt", ...]


@node
class Use(Node):
    """`use fragment(args)`: splice a message fragment."""

    fragment: tuple[Ident, ...]
    args: tuple[Arg, ...]


@node
class For(Node):
    var: Ident
    iterable: Expr
    body: tuple["Stmt", ...]


@node
class If(Node):
    branches: tuple[tuple[Expr, tuple["Stmt", ...]], ...]
    orelse: tuple["Stmt", ...] | None


@node
class TargetBlock(Node):
    """`target "anthropic" { ... }` inside a prompt: statements for one target."""

    target: str
    body: tuple["Stmt", ...]


Stmt = Union[ModelStmt, ToolsStmt, Message, ToolCall, ToolResult, History, Cache, Budget,
             Priority, Use, For, If, TargetBlock]


# ---------------------------------------------------------------- tests, datasets, targets


@node
class Binding(Node):
    name: Ident
    value: Expr


@node
class Expect(Node):
    expr: Expr


@node
class Reply(Node):
    value: Expr


@node
class TestDecl(Node):
    prompt: Ident
    title: str | None
    items: tuple[Union[Binding, Expect, Reply], ...]


@node
class Split(Node):
    name: Ident
    percent: float
    seed: int | None


@node
class Where(Node):
    expr: Expr


@node
class Limit(Node):
    count: int


@node
class Weight(Node):
    value: float


@node
class Teacher(Node):
    target: str


@node
class DatasetDecl(Node):
    prompt: Ident
    title: str | None
    source: str
    items: tuple[Union[Binding, Split, Where, Limit, Weight, Teacher], ...]


@node
class Caps(Node):
    settings: tuple[Setting, ...]


@node
class TargetDecl(Decl):
    """`target local "openai-compatible" { model "x"  base_url: "..."  caps { tools: false } }`."""

    backend: str
    items: tuple[Union[ModelStmt, Caps, Setting], ...]


@node
class Comment(Node):
    """A `//` comment, kept for the formatter."""

    text: str


@node
class Module(Node):
    """One parsed file."""

    decls: tuple[Node, ...]
    comments: tuple[Comment, ...] = ()
    #: lines skipped by syntax-error recovery (see compiler.parse)
    skipped: tuple[Span, ...] = attrs.field(default=(), eq=False)
