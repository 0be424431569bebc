"""Parse `.prompt` source into the AST (`compiler.ast`).

`parse_source` runs the grammar once over the whole file. When that fails it
reports the error and re-parses the file declaration by declaration (a
declaration starts with its keyword in column 1), so independent mistakes in
several declarations are all reported. The content of every message string is
parsed from the grammar's `template` start at the string's own offset, so a
template error is reported where it is and does not hide other errors.
"""
from __future__ import annotations

import re

import lark
from lark import Token, Tree

from .. import grammar
from ..grammar import errors as syntax
from . import ast, text
from .diagnostics import Sink
from .span import SourceFile, Span

DECL_KEYWORDS = ("import", "prompt", "type", "enum", "tool", "fragment", "test", "dataset", "target")
_DECL_START = re.compile(r"^(?:%s)\b" % "|".join(DECL_KEYWORDS), re.M)
# What the sync-point scan must step over: strings and comments.
_SKIP = re.compile(r'"""(?:[^"\\]|"(?!"")|\\[\s\S])*(?:"""|$)|"(?:[^"\\\n]|\\.)*"?|//[^\n]*|\n')


#: How many lines one declaration may lose to recovery before it is given up.
MAX_RECOVERIES = 20
#: Codes a recovered declaration may show only because a line of it was skipped.
CASCADE_CODES = frozenset({"PP200", "PP203", "PP240", "PP243", "PP244"})


def parse_source(source: SourceFile, sink: Sink) -> ast.Module:
    """Parse one file; syntax errors go to `sink`, the AST holds what parsed.

    After a syntax error the file is parsed declaration by declaration, and
    inside a declaration the line with the error is skipped (when its brackets
    balance) so later mistakes are found too. `Module.recovered` lists the
    lines (and strings) that recovery skipped: a name that occurs there may
    look unused or unknown only because of the skip, so the checker does not
    report it (CASCADE_CODES).
    """
    comments: list[ast.Comment] = []
    skipped: list[Span] = []
    try:
        decls = _parse_chunk(source, sink, source.text, 0, comments, skipped)
    except _ChunkFailed:
        comments.clear()
        decls = []
        for start, end in _chunks(source.text):
            try:
                decls.extend(_parse_recovering(source, sink, start, end, comments, skipped))
            except _ChunkFailed:
                continue
    span = Span(source, 0, len(source.text))
    return ast.Module(decls=tuple(decls), comments=tuple(comments), skipped=tuple(skipped), span=span)


def _parse_recovering(source, sink, start, end, comments, skipped: list[Span]):
    """Parse one declaration, skipping lines with errors (recorded in `skipped`)."""
    chunk = source.text[start:end]
    for attempt in range(MAX_RECOVERIES + 1):
        kept = len(comments)
        try:
            return _parse_chunk(source, sink, chunk, start, comments, skipped, report=True)
        except _ChunkFailed as failed:
            del comments[kept:]
            line = _error_line(chunk, failed.position)
            if line is None or attempt == MAX_RECOVERIES:
                raise
            a, b = line
            chunk = chunk[:a] + " " * (b - a) + chunk[b:]
            skipped.append(Span(source, start + a, start + b))
    raise _ChunkFailed(None)


_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _error_line(chunk: str, position: int | None) -> tuple[int, int] | None:
    """The line holding the error, when skipping it leaves brackets balanced."""
    if position is None or position >= len(chunk.rstrip()):
        return None
    a = chunk.rfind("\n", 0, position) + 1
    b = chunk.find("\n", position)
    b = len(chunk) if b == -1 else b
    line = chunk[a:b]
    if not line.strip() or line.count('"""') % 2:
        return None
    stripped = re.sub(r'"(?:[^"\\\n]|\\.)*"|//.*', "", line)
    depth = {k: 0 for k in _PAIRS}
    for ch in stripped:
        if ch in _PAIRS:
            depth[ch] += 1
        for opening, closing in _PAIRS.items():
            if ch == closing:
                depth[opening] -= 1
    return (a, b) if not any(depth.values()) else None


class _ChunkFailed(Exception):
    """A chunk did not parse; `position` is where, relative to the chunk."""

    def __init__(self, position: int | None):
        super().__init__(position)
        self.position = position


def _chunks(text_: str) -> list[tuple[int, int]]:
    """Split the file at declaration keywords in column 1 outside strings and comments."""
    starts = [0]
    pos = 0
    skips = [(m.start(), m.end()) for m in _SKIP.finditer(text_) if m.group(0) != "\n"]
    k = 0
    for m in _DECL_START.finditer(text_):
        while k < len(skips) and skips[k][1] <= m.start():
            k += 1
        if k < len(skips) and skips[k][0] < m.start() < skips[k][1]:
            continue  # inside a string or comment
        if m.start() > pos:
            starts.append(m.start())
    starts.append(len(text_))
    return [(a, b) for a, b in zip(starts, starts[1:]) if a < b]


def _parse_chunk(source, sink, chunk, offset, comments, skipped, report=False):
    def keep_comment(token: Token) -> None:
        comments.append(ast.Comment(text=str(token), span=Span(source, token.start_pos + offset, token.end_pos + offset)))

    grammar.comment_sink.append(keep_comment)
    try:
        tree = grammar.parser().parse(chunk, start="module")
    except lark.exceptions.UnexpectedInput as err:
        if report:
            _report_syntax_error(err, source, sink, offset, chunk, at_end_of_decl=offset + len(chunk) < len(source.text))
        raise _ChunkFailed(_error_position(err)) from None
    finally:
        grammar.comment_sink.pop()
    return _Builder(source, sink, offset, skipped).transform(tree).decls


def parse_template(token_text: str, token_start: int, source: SourceFile, sink: Sink,
                   skipped: list[Span] | None = None) -> ast.Template:
    """Parse the content of a string token into a `Template`.

    A string with a syntax error becomes an empty template; its span goes to
    `skipped` so names used only in it are not reported as unused.
    """
    quote = 3 if token_text.startswith('"""') else 1
    content = token_text[quote:-quote]
    content_start = token_start + quote
    span = Span(source, token_start, token_start + len(token_text))
    if "{" not in content:  # plain text: nothing for the grammar to find
        flat: list = [text.RawText(content, content_start, content_start + len(content))] if content else []
        return _finish_template(flat, token_text, content, content_start, quote, span, source, sink)
    try:
        tree = grammar.parser().parse(content, start="template")
    except lark.exceptions.UnexpectedInput as err:
        _report_syntax_error(err, source, sink, content_start, content, in_template=True)
        if skipped is not None:
            skipped.append(span)
        return ast.Template(pieces=(), raw=token_text, block=quote == 3, span=span)
    flat = _Builder(source, sink, content_start, skipped).transform(tree)
    return _finish_template(flat, token_text, content, content_start, quote, span, source, sink)


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


# ---------------------------------------------------------------- syntax errors


def _error_position(err) -> int | None:
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        return err.pos_in_stream
    token = getattr(err, "token", None)
    if token is None or token.type == "$END":
        return None
    return token.start_pos


def _terminal_patterns() -> dict[str, str]:
    return {t.name: t.pattern.value for t in grammar.parser().terminals if t.pattern.type == "str"}


def _report_syntax_error(err, source, sink, offset, chunk, in_template=False, at_end_of_decl=False):
    patterns = _terminal_patterns()
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        pos = offset + err.pos_in_stream
        ch = chunk[err.pos_in_stream] if err.pos_in_stream < len(chunk) else ""
        if ch == '"' and not in_template:
            closed = chunk.startswith('"""', err.pos_in_stream)
            sink.error(
                "PP103",
                "unterminated string",
                Span(source, pos, pos + (3 if closed else 1)),
                help='close a """ string with """' if closed
                else 'close the string with " on the same line, or use """ for text over several lines',
            )
            return
        expected = describe_expected(err.allowed or (), patterns)
        msg = f"unexpected character {ch!r}" + (f"; expected {expected}" if expected else "")
        sink.error("PP100", msg, Span(source, pos, pos + 1), help=syntax.hint_for(ch, err.allowed or ()))
        return
    token = getattr(err, "token", None)
    expected = set(getattr(err, "expected", None) or getattr(err, "accepts", None) or ())
    if token is None or token.type == "$END":
        end = offset + len(chunk.rstrip())
        where = "the string" if in_template else ("the declaration" if at_end_of_decl else "the file")
        desc = describe_expected(expected, patterns)
        sink.error(
            "PP102",
            f"unexpected end of {where}" + (f"; expected {desc}" if desc else ""),
            Span(source, max(end - 1, 0), max(end, 1) if source.text else 0),
            help=syntax.hint_for("", expected) or ("a block opened here is not closed" if "RBRACE" in expected else None),
        )
        return
    pos = offset + token.start_pos
    # The fallback lexer may return a long text run: show the word or sign at the error.
    word = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|\S", str(token)) or re.match(r"\s+", str(token))
    shown = word.group(0) if token.type in ("TEXT", "TAG_COMMENT", "TQSTRING") else str(token)
    shown = shown if len(shown) <= 30 else shown[:27] + "..."
    desc = describe_expected(expected, patterns)
    sink.error(
        "PP101",
        f"unexpected {shown!r}" + (f"; expected {desc}" if desc else ""),
        Span(source, pos, pos + max(len(shown), 1) if "\n" not in shown else pos + 1),
        help=syntax.hint_for(shown, expected),
    )


describe_expected = syntax.describe_expected


# ---------------------------------------------------------------- tree -> AST


class _Marker:
    """Wraps an optional child so the builder can tell which ones are present."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value):
        self.kind, self.value = kind, value


def _pick(children, kind, default=None):
    for c in children:
        if isinstance(c, _Marker) and c.kind == kind:
            return c.value
    return default


def _string_value(token: Token) -> str:
    return text.decode_escapes(str(token)[1:-1])


def _number(token: Token) -> int | float:
    s = str(token)
    return int(s) if re.fullmatch(r"-?[0-9]+", s) else float(s)


class _Builder:
    """Builds AST nodes bottom-up from Lark's tree; spans are shifted by `offset`.

    A method per grammar rule, called as `rule(meta, children)`. (A plain
    recursion: Lark's `Transformer` with `v_args` costs a wrapper per node.)
    """

    def __init__(self, source: SourceFile, sink: Sink, offset: int, skipped: list[Span] | None = None):
        self.source, self.sink, self.offset, self.skipped = source, sink, offset, skipped

    def transform(self, tree: Tree):
        children = [self.transform(c) if type(c) is Tree else c for c in tree.children]
        return getattr(self, tree.data)(tree.meta, children)

    # -- helpers
    def sp(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.source, self.offset, self.offset)
        return Span(self.source, meta.start_pos + self.offset, meta.end_pos + self.offset)

    def tsp(self, token: Token) -> Span:
        return Span(self.source, token.start_pos + self.offset, token.end_pos + self.offset)

    def ident(self, token: Token) -> ast.Ident:
        return ast.Ident(name=str(token), span=self.tsp(token))

    def tokens(self, children, type_=None):
        return [c for c in children if isinstance(c, Token) and (type_ is None or c.type == type_)]

    def nodes(self, children, cls=ast.Node):
        return tuple(c for c in children if isinstance(c, cls))

    # -- module and imports
    def module(self, meta, children):
        return ast.Module(decls=tuple(children), span=self.sp(meta))

    def dotted_name(self, meta, children):
        return _Marker("dotted", ".".join(str(c) for c in children))

    def import_name(self, meta, children):
        names = self.tokens(children, "NAME")
        return ast.ImportName(name=self.ident(names[0]), alias=self.ident(names[1]) if len(names) > 1 else None,
                              span=self.sp(meta))

    def import_names(self, meta, children):
        return _Marker("names", self.nodes(children, ast.ImportName))

    def import_decl(self, meta, children):
        path = [c for c in children if isinstance(c, Token) and c.type == "ESTRING"]
        alias = self.tokens(children, "NAME")
        return ast.Import(
            module=_pick(children, "dotted"),
            path=_string_value(path[0]) if path else None,
            alias=self.ident(alias[0]) if alias else None,
            names=_pick(children, "names"),
            span=self.sp(meta),
        )

    # -- types
    def description(self, meta, children):
        return _Marker("description", _string_value(children[0]))

    def default(self, meta, children):
        return _Marker("default", children[0])

    def returns(self, meta, children):
        return _Marker("returns", children[0])

    def field(self, meta, children):
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
        return _Marker("params", self.nodes(children, ast.Field))

    def record_decl(self, meta, children):
        return ast.RecordDecl(name=self.ident(children[0]), description=_pick(children, "description"),
                              fields=self.nodes(children, ast.Field), span=self.sp(meta))

    def alias_decl(self, meta, children):
        return ast.AliasDecl(name=self.ident(children[0]), type=self.nodes(children, ast.TypeExpr)[0],
                             description=_pick(children, "description"), span=self.sp(meta))

    def enum_member(self, meta, children):
        return ast.EnumMember(name=self.ident(children[0]), description=_pick(children, "description"),
                              span=self.sp(meta))

    def enum_decl(self, meta, children):
        return ast.EnumDecl(name=self.ident(children[0]), description=_pick(children, "description"),
                            members=self.nodes(children, ast.EnumMember), span=self.sp(meta))

    def named_type(self, meta, children):
        return ast.NamedType(name=str(children[0]), span=self.sp(meta))

    def generic_type(self, meta, children):
        return ast.GenericType(name=str(children[0]), args=self.nodes(children, ast.TypeExpr), span=self.sp(meta))

    def literal_type(self, meta, children):
        tok = children[0]
        value = _string_value(tok) if tok.type == "ESTRING" else _number(tok)
        return ast.LiteralType(value=value, span=self.sp(meta))

    def optional_type(self, meta, children):
        return ast.OptionalType(inner=children[0], span=self.sp(meta))

    def union_type(self, meta, children):
        return ast.UnionType(options=self.nodes(children, ast.TypeExpr), span=self.sp(meta))

    # -- tools, prompts, fragments
    def tool_decl(self, meta, children):
        return ast.ToolDecl(name=self.ident(children[0]), params=_pick(children, "params", ()),
                            returns=_pick(children, "returns"), description=_pick(children, "description"),
                            span=self.sp(meta))

    def block(self, meta, children):
        return _Marker("block", tuple(children))

    def prompt_decl(self, meta, children):
        return ast.PromptDecl(name=self.ident(children[0]), params=_pick(children, "params", ()),
                              returns=_pick(children, "returns"), body=_pick(children, "block", ()),
                              span=self.sp(meta))

    def fragment_decl(self, meta, children):
        templates = self.nodes(children, ast.Template)
        return ast.FragmentDecl(name=self.ident(children[0]), params=_pick(children, "params", ()),
                                text=templates[0] if templates else None, body=_pick(children, "block"),
                                span=self.sp(meta))

    # -- statements
    def setting(self, meta, children):
        return ast.Setting(name=self.ident(children[0]), value=children[1], span=self.sp(meta))

    def settings(self, meta, children):
        return _Marker("settings", self.nodes(children, ast.Setting))

    def model_stmt(self, meta, children):
        model = self.tokens(children, "ESTRING")
        return ast.ModelStmt(model=_string_value(model[0]) if model else None,
                             settings=_pick(children, "settings", ()), span=self.sp(meta))

    def tools_stmt(self, meta, children):
        return ast.ToolsStmt(tools=tuple(self.ident(t) for t in children), span=self.sp(meta))

    def role(self, meta, children):
        return _Marker("role", str(children[0]))

    media = role

    def template_string(self, meta, children):
        tok = children[0]
        return parse_template(str(tok), tok.start_pos + self.offset, self.source, self.sink, self.skipped)

    def parts(self, meta, children):
        return _Marker("parts", tuple(children))

    def media_part(self, meta, children):
        return ast.Media(kind=children[0].value, expr=children[1], span=self.sp(meta))

    def _body(self, children):
        parts = _pick(children, "parts")
        if parts is not None:
            return parts, True
        return self.nodes(children, ast.Template), False

    def message(self, meta, children):
        parts, braced = self._body(children)
        return ast.Message(role=_pick(children, "role"), parts=parts, braced=braced, span=self.sp(meta))

    def call_id(self, meta, children):
        return _Marker("call_id", children[0])

    def args(self, meta, children):
        return _Marker("args", self.nodes(children, ast.Arg))

    def arg(self, meta, children):
        if len(children) == 2:
            return ast.Arg(name=self.ident(children[0]), value=children[1], span=self.sp(meta))
        return ast.Arg(name=None, value=children[0], span=self.sp(meta))

    def tool_call_stmt(self, meta, children):
        return ast.ToolCall(tool=self.ident(children[0]), args=_pick(children, "args", ()),
                            call_id=_pick(children, "call_id"), span=self.sp(meta))

    def tool_result_stmt(self, meta, children):
        parts, braced = self._body(children)
        return ast.ToolResult(tool=self.ident(children[0]), call_id=_pick(children, "call_id"), parts=parts,
                              braced=braced, span=self.sp(meta))

    def history_stmt(self, meta, children):
        return ast.History(param=self.ident(children[0]) if children else None, span=self.sp(meta))

    def cache_stmt(self, meta, children):
        return ast.Cache(ttl=_string_value(children[0]) if children else None, span=self.sp(meta))

    def budget_stmt(self, meta, children):
        return ast.Budget(tokens=int(children[0]), span=self.sp(meta))

    def priority_stmt(self, meta, children):
        return ast.Priority(level=int(children[0]), body=_pick(children, "block", ()), span=self.sp(meta))

    def postfix_name(self, meta, children):
        return _Marker("qualname", tuple(self.ident(t) for t in children))

    def use_stmt(self, meta, children):
        return ast.Use(fragment=_pick(children, "qualname"), args=_pick(children, "args", ()), span=self.sp(meta))

    def for_stmt(self, meta, children):
        return ast.For(var=self.ident(children[0]), iterable=children[1], body=_pick(children, "block", ()),
                       span=self.sp(meta))

    def elif_clause(self, meta, children):
        return _Marker("elif", (children[0], children[1].value))

    def else_clause(self, meta, children):
        return _Marker("else", children[0].value)

    def if_stmt(self, meta, children):
        branches = [(children[0], children[1].value)]
        branches += [c.value for c in children if isinstance(c, _Marker) and c.kind == "elif"]
        return ast.If(branches=tuple(branches), orelse=_pick(children, "else"), span=self.sp(meta))

    def target_stmt(self, meta, children):
        return ast.TargetBlock(target=_string_value(children[0]), body=_pick(children, "block", ()),
                               span=self.sp(meta))

    # -- tests, datasets, targets
    def binding(self, meta, children):
        return ast.Binding(name=self.ident(children[0]), value=children[1], span=self.sp(meta))

    def expect_item(self, meta, children):
        return ast.Expect(expr=children[0], span=self.sp(meta))

    def reply_item(self, meta, children):
        return ast.Reply(value=children[0], span=self.sp(meta))

    def test_decl(self, meta, children):
        title = self.tokens(children, "ESTRING")
        return ast.TestDecl(prompt=self.ident(children[0]), title=_string_value(title[0]) if title else None,
                            items=self.nodes(children), span=self.sp(meta))

    def split_item(self, meta, children):
        seed = self.tokens(children, "INT")
        return ast.Split(name=self.ident(children[0]), percent=float(str(children[1])[:-1]),
                         seed=int(seed[0]) if seed else None, span=self.sp(meta))

    def where_item(self, meta, children):
        return ast.Where(expr=children[0], span=self.sp(meta))

    def limit_item(self, meta, children):
        return ast.Limit(count=int(children[0]), span=self.sp(meta))

    def weight_item(self, meta, children):
        return ast.Weight(value=float(children[0]), span=self.sp(meta))

    def teacher_item(self, meta, children):
        return ast.Teacher(target=_string_value(children[0]), span=self.sp(meta))

    def dataset_decl(self, meta, children):
        strings = self.tokens(children, "ESTRING")
        title, source = (strings[0], strings[1]) if len(strings) == 2 else (None, strings[0])
        return ast.DatasetDecl(prompt=self.ident(children[0]), title=_string_value(title) if title else None,
                               source=_string_value(source), items=self.nodes(children), span=self.sp(meta))

    def caps_item(self, meta, children):
        return ast.Caps(settings=_pick(children, "settings", ()), span=self.sp(meta))

    def target_decl(self, meta, children):
        return ast.TargetDecl(name=self.ident(children[0]), backend=_string_value(children[1]),
                              items=self.nodes(children), span=self.sp(meta))

    # -- the text syntax (flat; compiler.text nests it)
    def template(self, meta, children):
        flat = []
        for c in children:
            if isinstance(c, Token) and c.type == "TEXT":
                flat.append(text.RawText(str(c), c.start_pos + self.offset, c.end_pos + self.offset))
            elif isinstance(c, Token):  # TAG_COMMENT
                flat.append(text.RawTag("comment", c.start_pos + self.offset, c.end_pos + self.offset))
            else:
                flat.append(c)
        return flat

    def _tag(self, kind, meta, expr=None, var=None):
        span = self.sp(meta)
        return text.RawTag(kind, span.start, span.end, expr=expr, var=var)

    def interp(self, meta, children):
        return self._tag("interp", meta, children[0])

    def tag_if(self, meta, children):
        return self._tag("if", meta, children[0])

    def tag_elif(self, meta, children):
        return self._tag("elif", meta, children[0])

    def tag_else(self, meta, children):
        return self._tag("else", meta)

    def tag_for(self, meta, children):
        return self._tag("for", meta, children[1], self.ident(children[0]))

    def tag_end(self, meta, children):
        return self._tag("end", meta)

    # -- expressions
    def name(self, meta, children):
        return ast.Name(name=str(children[0]), span=self.sp(meta))

    def literal(self, meta, children):
        tok = children[0]
        value = {"TRUE": True, "FALSE": False, "NULL": None}.get(tok.type, tok)
        if tok.type == "TQSTRING":
            return ast.Literal(value=self._block_literal(tok), block=str(tok), span=self.sp(meta))
        if value is tok:
            value = _string_value(tok) if tok.type == "ESTRING" else _number(tok)
        return ast.Literal(value=value, span=self.sp(meta))

    def _block_literal(self, tok: Token) -> str:
        """A triple-quoted string used as a value: the text rules apply, tags do not."""
        tpl = parse_template(str(tok), tok.start_pos + self.offset, self.source, self.sink, self.skipped)
        if any(not isinstance(p, ast.Text) for p in tpl.pieces):
            self.sink.error("PP101", "a string used as a value cannot hold `{{ }}` or `{% %}`", tpl.span,
                            help="escape the braces as `\\{`, or move the text into a message")
        return "".join(p.value for p in tpl.pieces if isinstance(p, ast.Text))

    def list_lit(self, meta, children):
        return ast.ListLit(items=self.nodes(children, ast.Expr), span=self.sp(meta))

    def entry(self, meta, children):
        key = children[0]
        ident = ast.Ident(name=_string_value(key) if key.type == "ESTRING" else str(key), span=self.tsp(key))
        return _Marker("entry", (ident, children[1]))

    def record_lit(self, meta, children):
        return ast.RecordLit(entries=tuple(c.value for c in children), span=self.sp(meta))

    def getattr(self, meta, children):
        return ast.GetAttr(obj=children[0], attr=self.ident(children[1]), span=self.sp(meta))

    def getitem(self, meta, children):
        return ast.GetItem(obj=children[0], index=children[1], span=self.sp(meta))

    def call(self, meta, children):
        return ast.Call(func=children[0], args=_pick(children, "args", ()), span=self.sp(meta))

    def filter(self, meta, children):
        return _Marker("filter", (self.ident(children[0]), _pick(children, "args", ()), self.sp(meta)))

    def filtered(self, meta, children):
        value = children[0]
        for marker in children[1:]:
            name, args, span = marker.value
            value = ast.Filter(value=value, name=name, args=args, span=value.span.to(span))
        return value

    def compare(self, meta, children):
        return ast.Compare(op=str(children[1]), left=children[0], right=children[2], span=self.sp(meta))

    def in_(self, meta, children):
        return ast.Compare(op="in", left=children[0], right=children[1], span=self.sp(meta))

    def not_in(self, meta, children):
        return ast.Compare(op="not in", left=children[0], right=children[1], span=self.sp(meta))

    def and_(self, meta, children):
        return ast.And(items=tuple(children), span=self.sp(meta))

    def or_(self, meta, children):
        return ast.Or(items=tuple(children), span=self.sp(meta))

    def not_(self, meta, children):
        return ast.Not(operand=children[0], span=self.sp(meta))
