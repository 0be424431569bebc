"""Build the AST from Lark's parse tree, and templates from string tokens.

`AstBuilder` has one method per grammar rule; `parse_template` parses the
content of a message string from the grammar's `template` start at the
string's own offset and applies the text rules of `compiler.text`.
"""
from __future__ import annotations

import math
import re
from typing import cast

import lark
from lark import Token, Tree

from .. import grammar
from . import ast, text
from .diagnostics import Sink
from .span import SourceFile, Span
from .build_rules import DeclRules, _Marker, _pick
from .syntax_errors import report_syntax_error


class Nesting:
    """How deep the strings of one parse nest at most (`inner`: the parse tree, filter chains and
    `{% %}` tags of each string), gathered for free while building. With `AstBuilder.depth` it
    bounds the depth of the AST from above; only past the limit does the parser measure the AST
    exactly (a walk over every node would cost two fifths of the parse time)."""

    __slots__ = ("inner",)

    def __init__(self) -> None:
        self.inner = 0


def parse_template(token_text: str, token_start: int, source: SourceFile, sink: Sink,
                   skipped: list[Span] | None = None, nesting: Nesting | None = None) -> ast.Template:
    """Parse the content of a string token into a `Template`.

    A string with a syntax error becomes an empty template; its span goes to
    `skipped` so names used only in it are not reported as unused. `nesting` learns how deep
    the string nests.
    """
    quote = 3 if token_text.startswith('"""') else 1
    content = token_text[quote:-quote]
    content_start = token_start + quote
    span = Span(source, token_start, token_start + len(token_text))
    if "{" not in content:  # plain text: nothing for the grammar to find
        flat: list = [text.RawText(content, content_start, content_start + len(content))] if content else []
        return _finish_template(flat, token_text, content, content_start, quote, span, source, sink)
    try:
        tree = grammar.parse(content, "template")
    except lark.exceptions.UnexpectedInput as err:
        report_syntax_error(err, source, sink, content_start, content, in_template=True)
        _report_more_template_errors(err, content, content_start, source, sink)
        if skipped is not None:
            skipped.append(span)
        return ast.Template(pieces=(), raw=token_text, block=quote == 3, span=span)
    builder = AstBuilder(source, sink, content_start, skipped)
    flat = builder.transform(tree)
    if nesting is not None:
        nesting.inner = max(nesting.inner, builder.depth + _tag_depth(flat))
    return _finish_template(flat, token_text, content, content_start, quote, span, source, sink)


def _tag_depth(flat: list) -> int:
    """How deep the `{% %}` blocks of a string's flat pieces nest at most."""
    depth = deepest = 0
    for piece in flat:
        kind = getattr(piece, "kind", None)
        if kind in ("if", "for"):
            depth += 1
            deepest = max(deepest, depth)
        elif kind == "end":
            depth = max(depth - 1, 0)
    return deepest


MAX_TEMPLATE_ERRORS = 10
_TAG_START = re.compile(r"\{\{|\{%")


def _report_more_template_errors(err, content, content_start, source, sink) -> None:
    """Find the other syntax errors of a string: blank out the tag with the
    error and parse again. (The string is still dropped from the AST.)"""
    for _ in range(MAX_TEMPLATE_ERRORS):
        pos = err.pos_in_stream if isinstance(err, lark.exceptions.UnexpectedCharacters) else getattr(
            getattr(err, "token", None), "start_pos", None)
        if pos is None:
            return
        starts = [m.start() for m in _TAG_START.finditer(content, 0, pos + 1)]
        if not starts:
            return
        start = starts[-1]
        close = min((i for i in (content.find("}}", pos), content.find("%}", pos)) if i != -1), default=-1)
        nxt = _TAG_START.search(content, pos + 1)
        if close == -1 or (nxt is not None and nxt.start() < close):
            return  # the tag is not closed: what follows would only repeat the error
        content = content[:start] + " " * (close + 2 - start) + content[close + 2:]
        try:
            grammar.parse(content, "template")
            return
        except lark.exceptions.UnexpectedInput as again:
            report_syntax_error(again, source, sink, content_start, content, in_template=True)
            err = again


def _finish_template(flat, token_text, content, content_start, quote, span, source, sink) -> ast.Template:
    """Apply the text rules of `compiler.text` to the flat pieces of a string."""
    for piece in flat:
        if isinstance(piece, text.RawText):
            text.check_escapes(piece, source, sink)
    if quote == 3:
        text.dedent_block(flat, source, sink, content_start, content)
    flat = text.drop_tag_lines(flat)
    pieces = text.nest(flat, source, sink)
    trim_end = False
    if quote == 3 and "\n" in content:
        pieces, trim_end = text.trim_final_newline(pieces)
    return ast.Template(pieces=pieces, raw=token_text, block=quote == 3, trim_end=trim_end, span=span)



#: Integers longer than this are PP112 (Python refuses to convert past 4,300 digits, and no
#: JSON consumer keeps such a number exactly anyway).
MAX_INT_DIGITS = 64


#: Tokens a rule method sees: the named terminals and the `!role`/`!media`
#: keywords. Keywords and punctuation only mark where a node starts and ends.
KEPT_TOKENS = frozenset({
    "NAME", "ESTRING", "TQSTRING", "INT", "NUMBER", "SIGNED_NUMBER", "PERCENT", "TEXT", "TAG_COMMENT", "COMP_OP",
    "OPTIONAL", "TRUE", "FALSE", "NULL", "SYSTEM", "USER", "ASSISTANT", "IMAGE", "AUDIO", "FILE", "STRICT",
})


class _Meta:
    """Where a rule's tokens start and end (relative to the parsed text)."""

    __slots__ = ("start_pos", "end_pos", "empty")

    def __init__(self, start: int | None, end: int | None):
        self.start_pos, self.end_pos, self.empty = start, end, start is None


class AstBuilder(DeclRules):
    """Builds AST nodes bottom-up from Lark's tree; spans are shifted by `offset`.

    A method per grammar rule, called as `rule(meta, children)`. The parser
    keeps every token, so a node's span runs from its first token to its last
    (keywords and closing brackets included) without Lark's position
    propagation, which cost a third of the parse time; `KEPT_TOKENS` are the
    tokens passed on to the rule methods.
    """

    def __init__(self, source: SourceFile, sink: Sink, offset: int, skipped: list[Span] | None = None,
                 nesting: Nesting | None = None):
        self.source, self.sink, self.offset, self.skipped = source, sink, offset, skipped
        self.nesting = nesting
        #: how deep the tree built last nests at most: its depth plus its longest filter chain
        self.depth = 0
        self._chain = 0

    def transform(self, tree: Tree):
        """The AST of a parse tree (a node, or a template's flat pieces)."""
        return self._build(tree)[0]

    def _build(self, tree: Tree):
        """The value of `tree` and the start and end of its tokens; bottom-up with an explicit
        stack, so a deeply nested source (976 parentheses) does not reach Python's recursion limit."""
        # A frame: the tree, the index of its next child, its values so far, its start and end.
        stack: list[list] = [[tree, 0, [], None, None]]
        deepest = 1
        while True:
            frame = stack[-1]
            node, i, kids = frame[0], frame[1], frame[2]
            children = node.children
            while i < len(children):
                child = children[i]
                i += 1
                if type(child) is Tree:
                    break
                token = cast(Token, child)
                if token.type in KEPT_TOKENS:
                    kids.append(child)
                if frame[3] is None:
                    frame[3] = token.start_pos
                frame[4] = token.end_pos
            else:
                stack.pop()
                start, end = frame[3], frame[4]
                value = getattr(self, node.data)(_Meta(start, end), kids)
                if not stack:
                    self.depth = deepest + self._chain
                    return value, start, end
                parent = stack[-1]
                parent[2].append(value)
                if start is not None:
                    if parent[3] is None:
                        parent[3] = start
                    parent[4] = end
                continue
            frame[1] = i
            stack.append([child, 0, [], None, None])
            deepest = max(deepest, len(stack))

    # -- helpers
    def string(self, token: Token) -> str:
        """The value of a plain string token; unknown escapes are reported (PP104)."""
        raw = str(token)[1:-1]
        if "\\" in raw:
            start = (token.start_pos or 0) + self.offset + 1
            text.check_escapes(text.RawText(raw, start, start + len(raw)), self.source, self.sink)
        return text.decode_escapes(raw)

    def number(self, token: Token, text: str | None = None) -> int | float:
        """The value of a number token (`text`: its digits, when the token holds more); PP112 and 0
        for a number no JSON body can carry: `1e999` is infinite, a 5,000-digit integer too long."""
        s = str(token) if text is None else text
        value: int | float = 0
        is_int = re.fullmatch(r"-?[0-9]+", s) is not None
        if is_int and len(s.lstrip("-")) <= MAX_INT_DIGITS:
            return int(s)
        if not is_int:
            value = float(s)
            if math.isfinite(value):
                return value
        self.sink.error("PP112", f"the number `{s[:20]}{'...' if len(s) > 20 else ''}` is out of range",
                        self.tsp(token),
                        help="write a number a JSON value can hold: at most "
                        f"{MAX_INT_DIGITS} digits, less than about 1.8e308")
        return 0

    def sp(self, meta) -> Span:
        """The span of a rule's tokens in the source file (empty, at the offset, for a rule without tokens)."""
        if meta.empty:
            return Span(self.source, self.offset, self.offset)
        return Span(self.source, meta.start_pos + self.offset, meta.end_pos + self.offset)

    def primary(self, meta, children):
        """`( expr )`: the expression itself (also `( type )`, as `type_atom`)."""
        return children[0]  # `( expr )`

    type_atom = primary  # `( type )`

    def tsp(self, token: Token) -> Span:
        """The span of one token in the source file."""
        return Span(self.source, (token.start_pos or 0) + self.offset, (token.end_pos or 0) + self.offset)

    def ident(self, token: Token) -> ast.Ident:
        """An `Ident` from a NAME token."""
        return ast.Ident(name=str(token), span=self.tsp(token))

    def tokens(self, children, type_: str):
        """The tokens of type `type_` among a rule's children."""
        return [c for c in children if isinstance(c, Token) and c.type == type_]

    def nodes(self, children, cls=ast.Node):
        """The children that are nodes of `cls`, as a tuple."""
        return tuple(c for c in children if isinstance(c, cls))

    # -- module and imports
    def module(self, meta, children):
        """A file: a `Module` of its declarations."""
        return ast.Module(decls=tuple(children), span=self.sp(meta))

    def dotted_name(self, meta, children):
        """`a.b.c` after `import`, marked for `import_decl`."""
        return _Marker("dotted", ".".join(str(c) for c in children))

    def import_name(self, meta, children):
        """`name` or `name as alias` in an import list."""
        names = self.tokens(children, "NAME")
        return ast.ImportName(name=self.ident(names[0]), alias=self.ident(names[1]) if len(names) > 1 else None,
                              span=self.sp(meta))

    def import_names(self, meta, children):
        """An import's `{ a, b as c }`, marked for `import_decl`."""
        return _Marker("names", self.nodes(children, ast.ImportName))

    def import_decl(self, meta, children):
        """`import std.x` or `import "./f.prompt"`, with an alias and names when given."""
        path = [c for c in children if isinstance(c, Token) and c.type == "ESTRING"]
        alias = self.tokens(children, "NAME")
        return ast.Import(
            module=_pick(children, "dotted"),
            path=self.string(path[0]) if path else None,
            alias=self.ident(alias[0]) if alias else None,
            names=_pick(children, "names"),
            span=self.sp(meta),
        )

    # -- types
    def description(self, meta, children):
        """A declaration's or field's description string, marked for its parent."""
        return _Marker("description", self.string(children[0]))

    def default(self, meta, children):
        """A field's or parameter's `= default`, marked for `field`."""
        return _Marker("default", children[0])

    def returns(self, meta, children):
        """A declaration's `-> Type`, marked for its parent."""
        return _Marker("returns", children[0])

    def field(self, meta, children):
        """A record field or parameter: `name?: Type = default "description"`."""
        return ast.Field(
            name=self.ident(children[0]),
            optional=any(isinstance(c, Token) and c.type == "OPTIONAL" for c in children),
            type=self.nodes(children, ast.TypeExpr)[0],
            default=_pick(children, "default"),
            description=_pick(children, "description"),
            span=self.sp(meta),
        )

    param = field

    def params(self, meta, children):
        """A parameter list, marked for its declaration."""
        return _Marker("params", self.nodes(children, ast.Field))

    def record_decl(self, meta, children):
        """`type Name { fields }`."""
        return ast.RecordDecl(name=self.ident(children[0]), description=_pick(children, "description"),
                              fields=self.nodes(children, ast.Field), span=self.sp(meta))

    def alias_decl(self, meta, children):
        """`type Name = T`."""
        return ast.AliasDecl(name=self.ident(children[0]), type=self.nodes(children, ast.TypeExpr)[0],
                             description=_pick(children, "description"), span=self.sp(meta))

    def enum_member(self, meta, children):
        """An enum member and its description."""
        return ast.EnumMember(name=self.ident(children[0]), description=_pick(children, "description"),
                              span=self.sp(meta))

    def enum_decl(self, meta, children):
        """`enum Name { members }`."""
        return ast.EnumDecl(name=self.ident(children[0]), description=_pick(children, "description"),
                            members=self.nodes(children, ast.EnumMember), span=self.sp(meta))

    def named_type(self, meta, children):
        """A type by name."""
        return ast.NamedType(name=str(children[0]), span=self.sp(meta))

    def generic_type(self, meta, children):
        """`list[T]`, `map[T]`."""
        return ast.GenericType(name=str(children[0]), args=self.nodes(children, ast.TypeExpr), span=self.sp(meta))

    def literal_type(self, meta, children):
        """A string or number in a literal union."""
        tok = children[0]
        value = self.string(tok) if tok.type == "ESTRING" else self.number(tok)
        return ast.LiteralType(value=value, span=self.sp(meta))

    def optional_type(self, meta, children):
        """`T?`."""
        return ast.OptionalType(inner=children[0], span=self.sp(meta))

    def union_type(self, meta, children):
        """`a | b`: a literal union."""
        return ast.UnionType(options=self.nodes(children, ast.TypeExpr), span=self.sp(meta))

    # -- tools, prompts, fragments
    def tool_decl(self, meta, children):
        """`strict tool name(params) -> Result "description"` (`strict` optional)."""
        strict = bool(children) and isinstance(children[0], Token) and children[0].type == "STRICT"
        return ast.ToolDecl(name=self.ident(children[1 if strict else 0]), params=_pick(children, "params", ()),
                            returns=_pick(children, "returns"), description=_pick(children, "description"),
                            strict=strict, span=self.sp(meta))

    def block(self, meta, children):
        """The statements of `{ ... }`, marked for their parent."""
        return _Marker("block", tuple(children))

    def prompt_decl(self, meta, children):
        """`prompt name(params) -> Output { ... }`."""
        return ast.PromptDecl(name=self.ident(children[0]), params=_pick(children, "params", ()),
                              returns=_pick(children, "returns"), body=_pick(children, "block", ()),
                              span=self.sp(meta))

    def fragment_decl(self, meta, children):
        """`fragment name(params)` with a text or a `{ ... }` of statements."""
        templates = self.nodes(children, ast.Template)
        return ast.FragmentDecl(name=self.ident(children[0]), params=_pick(children, "params", ()),
                                text=templates[0] if templates else None, body=_pick(children, "block"),
                                span=self.sp(meta))

    # -- statements
    def setting(self, meta, children):
        """`name: value`."""
        return ast.Setting(name=self.ident(children[0]), value=children[1], span=self.sp(meta))

    def settings(self, meta, children):
        """`{ name: value, ... }`, marked for its parent."""
        return _Marker("settings", self.nodes(children, ast.Setting))

    def model_stmt(self, meta, children):
        """`model "id" { settings }`."""
        model = self.tokens(children, "ESTRING")
        return ast.ModelStmt(model=self.string(model[0]) if model else None,
                             settings=_pick(children, "settings", ()), span=self.sp(meta))

    def tools_stmt(self, meta, children):
        """`tools a, b`."""
        return ast.ToolsStmt(tools=tuple(self.ident(t) for t in children), span=self.sp(meta))

    def role(self, meta, children):
        """A message's role keyword (also a media kind, as `media`), marked for its parent."""
        return _Marker("role", str(children[0]))

    media = role

    def template_string(self, meta, children):
        """A message string, parsed as a `Template` at its place in the file."""
        tok = children[0]
        return parse_template(str(tok), tok.start_pos + self.offset, self.source, self.sink, self.skipped,
                              self.nesting)

    def parts(self, meta, children):
        """A message's `{ parts }`, marked for its parent."""
        return _Marker("parts", tuple(children))

    def media_part(self, meta, children):
        """`image(expr)`, `audio(expr)` or `file(expr)`."""
        return ast.Media(kind=children[0].value, expr=children[1], span=self.sp(meta))

    def _body(self, children):
        parts = _pick(children, "parts")
        if parts is not None:
            return parts, True
        return self.nodes(children, ast.Template), False

    def message(self, meta, children):
        """`system`, `user` or `assistant` with a text or `{ parts }`."""
        parts, braced = self._body(children)
        return ast.Message(role=_pick(children, "role"), parts=parts, braced=braced, span=self.sp(meta))

    def call_id(self, meta, children):
        """`id expr` of a tool call or result, marked for its parent."""
        return _Marker("call_id", children[0])

    def args(self, meta, children):
        """A call's arguments, marked for their parent."""
        return _Marker("args", self.nodes(children, ast.Arg))

    def arg(self, meta, children):
        """One argument: `value` or `name = value`."""
        if len(children) == 2:
            return ast.Arg(name=self.ident(children[0]), value=children[1], span=self.sp(meta))
        return ast.Arg(name=None, value=children[0], span=self.sp(meta))

    def tool_call_stmt(self, meta, children):
        """`tool_call name(args) id expr`."""
        return ast.ToolCall(tool=self.ident(children[0]), args=_pick(children, "args", ()),
                            call_id=_pick(children, "call_id"), span=self.sp(meta))

    def tool_result_stmt(self, meta, children):
        """`tool_result name id expr` with a text or `{ parts }`."""
        parts, braced = self._body(children)
        return ast.ToolResult(tool=self.ident(children[0]), call_id=_pick(children, "call_id"), parts=parts,
                              braced=braced, span=self.sp(meta))

    def history_stmt(self, meta, children):
        """`history` or `history name`."""
        return ast.History(param=self.ident(children[0]) if children else None, span=self.sp(meta))

    def cache_stmt(self, meta, children):
        """`cache` or `cache "ttl"`."""
        return ast.Cache(ttl=self.string(children[0]) if children else None, span=self.sp(meta))

    def budget_stmt(self, meta, children):
        """`budget N`."""
        return ast.Budget(tokens=int(self.number(children[0])), span=self.sp(meta))

    def priority_stmt(self, meta, children):
        """`priority N { ... }`."""
        return ast.Priority(level=int(self.number(children[0])), body=_pick(children, "block", ()), span=self.sp(meta))

    def postfix_name(self, meta, children):
        """`name` or `module.name` after `use`, marked for `use_stmt`."""
        return _Marker("qualname", tuple(self.ident(t) for t in children))

    def use_stmt(self, meta, children):
        """`use fragment(args)`."""
        return ast.Use(fragment=_pick(children, "qualname"), args=_pick(children, "args", ()), span=self.sp(meta))

    def for_stmt(self, meta, children):
        """`for x in xs { ... }` in a prompt body."""
        return ast.For(var=self.ident(children[0]), iterable=children[1], body=_pick(children, "block", ()),
                       span=self.sp(meta))

    def elif_clause(self, meta, children):
        """`elif cond { ... }`: (condition, statements), marked for `if_stmt`."""
        return _Marker("elif", (children[0], children[1].value))

    def else_clause(self, meta, children):
        """`else { ... }`: its statements, marked for `if_stmt`."""
        return _Marker("else", children[0].value)

    def if_stmt(self, meta, children):
        """`if cond { ... }` with its `elif` and `else` clauses."""
        branches = [(children[0], children[1].value)]
        branches += [c.value for c in children if isinstance(c, _Marker) and c.kind == "elif"]
        return ast.If(branches=tuple(branches), orelse=_pick(children, "else"), span=self.sp(meta))

    def target_stmt(self, meta, children):
        """`target "name" { ... }` in a prompt body."""
        return ast.TargetBlock(target=self.string(children[0]), body=_pick(children, "block", ()),
                               span=self.sp(meta))

    # -- expressions
    def name(self, meta, children):
        """A name read in an expression."""
        return ast.Name(name=str(children[0]), span=self.sp(meta))

    def literal(self, meta, children):
        """A string, number, `true`, `false` or `null`; a triple-quoted string takes the text rules."""
        tok = children[0]
        value = {"TRUE": True, "FALSE": False, "NULL": None}.get(tok.type, tok)
        if tok.type == "TQSTRING":
            return ast.Literal(value=self._block_literal(tok), block=str(tok), span=self.sp(meta))
        if value is tok:
            value = self.string(tok) if tok.type == "ESTRING" else self.number(tok)
        return ast.Literal(value=value, span=self.sp(meta))

    def _block_literal(self, tok: Token) -> str:
        """A triple-quoted string used as a value: the text rules apply, tags do not."""
        tpl = parse_template(str(tok), (tok.start_pos or 0) + self.offset, self.source, self.sink, self.skipped,
                             self.nesting)
        if any(not isinstance(p, ast.Text) for p in tpl.pieces):
            self.sink.error("PP101", "a string used as a value cannot hold `{{ }}` or `{% %}`", tpl.span,
                            help="escape the braces as `\\{`, or move the text into a message")
        return "".join(p.value for p in tpl.pieces if isinstance(p, ast.Text))

    def list_lit(self, meta, children):
        """`[a, b]`."""
        return ast.ListLit(items=self.nodes(children, ast.Expr), span=self.sp(meta))

    def entry(self, meta, children):
        """`key: value` of a record literal (the key a NAME or a string), marked for `record_lit`."""
        key = children[0]
        ident = ast.Ident(name=self.string(key) if key.type == "ESTRING" else str(key), span=self.tsp(key))
        return _Marker("entry", (ident, children[1]))

    def record_lit(self, meta, children):
        """`{ key: value, ... }`."""
        return ast.RecordLit(entries=tuple(c.value for c in children), span=self.sp(meta))

    def getattr(self, meta, children):
        """`obj.attr`."""
        return ast.GetAttr(obj=children[0], attr=self.ident(children[1]), span=self.sp(meta))

    def getitem(self, meta, children):
        """`obj[index]`."""
        return ast.GetItem(obj=children[0], index=children[1], span=self.sp(meta))

    def call(self, meta, children):
        """`func(args)`."""
        return ast.Call(func=children[0], args=_pick(children, "args", ()), span=self.sp(meta))

    def filter(self, meta, children):
        """`| name(args)`: its name, arguments and span, marked for `filtered`."""
        return _Marker("filter", (self.ident(children[0]), _pick(children, "args", ()), self.sp(meta)))

    def filtered(self, meta, children):
        """`value | f | g(x)`: the filters applied left to right, each a `Filter` around the last."""
        value = children[0]
        self._chain = max(self._chain, len(children))
        for marker in children[1:]:
            name, args, span = marker.value
            value = ast.Filter(value=value, name=name, args=args, span=value.span.to(span))
        return value

    def compare(self, meta, children):
        """`left op right` for ==, !=, <, <=, >, >=."""
        return ast.Compare(op=str(children[1]), left=children[0], right=children[2], span=self.sp(meta))

    def in_(self, meta, children):
        """`left in right`."""
        return ast.Compare(op="in", left=children[0], right=children[1], span=self.sp(meta))

    def not_in(self, meta, children):
        """`left not in right`."""
        return ast.Compare(op="not in", left=children[0], right=children[1], span=self.sp(meta))

    def and_(self, meta, children):
        """`a and b and ...`."""
        return ast.And(items=tuple(children), span=self.sp(meta))

    def or_(self, meta, children):
        """`a or b or ...`."""
        return ast.Or(items=tuple(children), span=self.sp(meta))

    def not_(self, meta, children):
        """`not operand`."""
        return ast.Not(operand=children[0], span=self.sp(meta))
