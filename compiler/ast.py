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
    """Base of every expression node."""
    pass


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Name(Expr):
    """A bare name read in an expression: a local, a parameter or a declaration."""
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
    """`[a, b, c]`."""
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class RecordLit(Expr):
    """`{ name: value, "key": value }`; each entry's key as written."""
    entries: tuple[tuple[Ident, Expr], ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class GetAttr(Expr):
    """`obj.attr`: a field, an enum member or a module's declaration."""
    obj: Expr
    attr: Ident


@attrs.frozen(kw_only=True, slots=False, repr=False)
class GetItem(Expr):
    """`obj[index]`."""
    obj: Expr
    index: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Arg(Node):
    """A call argument; `name` is set for `name = value`."""

    name: Ident | None
    value: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Call(Expr):
    """`func(args)`: a fragment or builtin function call."""
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
    """`a and b and ...`: the operands of one chain in one node."""
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Or(Expr):
    """`a or b or ...`: the operands of one chain in one node."""
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Not(Expr):
    """`not operand`."""
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
    """Base of every type as written."""
    pass


@attrs.frozen(kw_only=True, slots=False, repr=False)
class NamedType(TypeExpr):
    """A type by name: a built-in (`str`, `messages`...) or a declared or imported one."""
    name: str


@attrs.frozen(kw_only=True, slots=False, repr=False)
class GenericType(TypeExpr):
    """`list[T]` or `map[T]`: a name with type arguments."""
    name: str
    args: tuple[TypeExpr, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class LiteralType(TypeExpr):
    """One member of a literal union: a string or number constant."""
    value: Union[str, int, float]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class OptionalType(TypeExpr):
    """`T?`."""
    inner: TypeExpr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class UnionType(TypeExpr):
    """`"a" | "b"`: a literal union."""
    options: tuple[TypeExpr, ...]


# ---------------------------------------------------------------- declarations


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Decl(Node):
    """Base of the named declarations."""
    name: Ident


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ImportName(Node):
    """`name` or `name as alias` in an import's list of names."""
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
    """A record field or a parameter (`Param`): `name?: Type = default "description"`."""
    name: Ident
    optional: bool
    type: TypeExpr
    default: Expr | None
    description: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class RecordDecl(Decl):
    """`type Name { fields }`."""
    description: str | None
    fields: tuple[Field, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class AliasDecl(Decl):
    """`type Name = T`."""
    type: TypeExpr
    description: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class EnumMember(Node):
    """An enum member and its description."""
    name: Ident
    description: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class EnumDecl(Decl):
    """`enum Name { members }`."""
    description: str | None
    members: tuple[EnumMember, ...]


Param = Field


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ToolDecl(Decl):
    """`tool name(params) -> Result "description"`; `strict tool ...`: the provider holds the call's
    arguments to the parameters' schema (OpenAI's `strict: true`)."""
    params: tuple[Param, ...]
    returns: TypeExpr | None
    description: str | None
    strict: bool = False


@attrs.frozen(kw_only=True, slots=False, repr=False)
class PromptDecl(Decl):
    """`prompt name(params) -> Output { statements }`."""
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
    """`name: value`: a model setting, a capability in `caps { }` or a target option."""
    name: Ident
    value: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ModelStmt(Node):
    """`model "id" { settings }`; either part may be left out."""
    model: str | None
    settings: tuple[Setting, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ToolsStmt(Node):
    """`tools a, b`: the tools offered to the model."""
    tools: tuple[Ident, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Media(Node):
    """`image(expr)`, `audio(expr)`, `file(expr)` inside a message."""

    kind: str
    expr: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Message(Node):
    """`system`, `user` or `assistant` with a text, or with `{ parts }` (`braced`)."""
    role: str
    parts: tuple[Union[Template, Media], ...]
    braced: bool


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ToolCall(Node):
    """`tool_call name(args) id "x"`: an assistant turn that calls a tool."""
    tool: Ident
    args: tuple[Arg, ...]
    call_id: Expr | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class ToolResult(Node):
    """`tool_result name id "x"` with a text or `{ parts }` (`braced`): a tool call's result."""
    tool: Ident
    call_id: Expr | None
    parts: tuple[Union[Template, Media], ...]
    braced: bool


@attrs.frozen(kw_only=True, slots=False, repr=False)
class History(Node):
    """`history` or `history name`: splice a `messages` parameter (`history` when `param` is None)."""
    param: Ident | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Cache(Node):
    """`cache` or `cache "5m"`: a cache breakpoint, with its lifetime if given."""
    ttl: str | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Budget(Node):
    """`budget N`: the prompt's token budget."""
    tokens: int


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Priority(Node):
    """`priority N { ... }`: statements budget pruning may drop, lowest level first."""
    level: int
    body: tuple["Stmt", ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Use(Node):
    """`use fragment(args)`: splice a message fragment."""

    fragment: tuple[Ident, ...]
    args: tuple[Arg, ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class For(Node):
    """`for x in xs { ... }` in a prompt body."""
    var: Ident
    iterable: Expr
    body: tuple["Stmt", ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class If(Node):
    """`if c { ... } elif c { ... } else { ... }` in a prompt body."""
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
    """`name = value` in a test or dataset: an input (or `output`) and its value."""
    name: Ident
    value: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Expect(Node):
    """`expect condition` in a test: checked against the recorded reply."""
    expr: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Reply(Node):
    """`reply value` in a test: the recorded reply, or the JSON file it names."""
    value: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class TestDecl(Node):
    """`test prompt "title" { bindings, reply, expects }`."""
    prompt: Ident
    title: str | None
    items: tuple[Union[Binding, Expect, Reply], ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Split(Node):
    """`split NAME P% seed N` in a dataset: the share of rows set aside under NAME."""
    name: Ident
    percent: float
    seed: int | None


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Where(Node):
    """`where condition` in a dataset: the rows kept."""
    expr: Expr


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Limit(Node):
    """`limit N` in a dataset: the most rows used."""
    count: int


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Weight(Node):
    """`weight X` in a dataset: how much it weighs against other datasets."""
    value: float


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Teacher(Node):
    """`teacher "target"` in a dataset: the teacher target of the training stage."""
    target: str


@attrs.frozen(kw_only=True, slots=False, repr=False)
class DatasetDecl(Node):
    """`dataset prompt "title" from "path" { bindings, split, where, limit, weight, teacher }`."""
    prompt: Ident
    title: str | None
    source: str
    items: tuple[Union[Binding, Split, Where, Limit, Weight, Teacher], ...]


@attrs.frozen(kw_only=True, slots=False, repr=False)
class Caps(Node):
    """`caps { capability: value, ... }` in a target declaration: overrides of its capability table."""
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
