"""Parse `.prompt` source into the AST (`compiler.ast`).

`parse_source` runs the grammar once over the whole file. When that fails it
reports the error and re-parses the file declaration by declaration (a
declaration starts with its keyword in column 1), so independent mistakes in
several declarations are all reported. The content of every message string is
parsed separately (`compiler.build.parse_template`), so a template error is
reported where it is and does not hide other errors.
"""
from __future__ import annotations

import contextlib
import gc
import re

import lark
from lark import Token

from .. import grammar
from . import ast
from .build import AstBuilder
from .diagnostics import Sink
from .span import SourceFile, Span
from .syntax_errors import error_position, report_syntax_error

DECL_KEYWORDS = ("import", "prompt", "type", "enum", "tool", "fragment", "test", "dataset", "target")
_DECL_START = re.compile(r"^(?:%s)\b" % "|".join(DECL_KEYWORDS), re.M)
# What the sync-point scan must step over: strings and comments.
_SKIP = re.compile(r'"""(?:[^"\\]|"(?!"")|\\[\s\S])*(?:"""|$)|"(?:[^"\\\n]|\\.)*"?|//[^\n]*|\n')


#: How many lines one declaration may lose to recovery before it is given up.
MAX_RECOVERIES = 20
#: Codes a recovered declaration may show only because a line of it was skipped.
CASCADE_CODES = frozenset({"PP200", "PP202", "PP203", "PP209", "PP210", "PP211", "PP224", "PP240", "PP243",
                           "PP244"})


def parse_source(source: SourceFile, sink: Sink) -> ast.Module:
    """Parse one file; syntax errors go to `sink`, the AST holds what parsed.

    After a syntax error the file is parsed declaration by declaration, and
    inside a declaration the line with the error is skipped (when its brackets
    balance) so later mistakes are found too. `Module.recovered` lists the
    lines (and strings) that recovery skipped: a name that occurs there may
    look unused or unknown only because of the skip, so the checker does not
    report it (CASCADE_CODES).
    """
    with _collector_paused():
        return _parse_source(source, sink)


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while a file parses. A parse allocates hundreds of
    thousands of small objects (tokens, trees, AST nodes) that live until it ends, and the
    collections they set off walked them again and again: 40% of the parse time. Whatever cycle a
    parse leaves is collected once the collector runs again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_source(source: SourceFile, sink: Sink) -> ast.Module:
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
                skipped.append(Span(source, start, end))  # the whole declaration is lost
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
            report_syntax_error(err, source, sink, offset, chunk, at_end_of_decl=offset + len(chunk) < len(source.text))
        raise _ChunkFailed(error_position(err)) from None
    finally:
        grammar.comment_sink.pop()
    return AstBuilder(source, sink, offset, skipped).transform(tree).decls
