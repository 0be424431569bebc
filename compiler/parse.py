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
import threading

import lark
from lark import Token

from .. import grammar
from . import ast
from .build import AstBuilder, Nesting
from .diagnostics import Sink
from .span import SourceFile, Span
from .syntax_errors import DECL_KEYWORDS, error_position, report_syntax_error
from .visit import iter_children

_DECL_START = re.compile(r"^(?:%s)\b" % "|".join(DECL_KEYWORDS), re.M)
# What the sync-point scan must step over: strings and comments.
_SKIP = re.compile(r'"""(?:[^"\\]|"(?!"")|\\[\s\S])*(?:"""|$)|"(?:[^"\\\n]|\\.)*"?|//[^\n]*|\n')


#: How deep the nodes of one declaration may nest (expressions, types, blocks and `{% %}` tags
#: along one path). Every later stage walks the tree recursively: past this a declaration is PP111,
#: never a RecursionError. Real prompts nest about ten levels.
MAX_NESTING = 64
# What the bound from the parse trees leaves out: the Template node around a string's pieces.
_SLACK = 2

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
    report it (CASCADE_CODES). Safe to call from several threads at once.
    """
    with _COLLECTOR.paused():
        return _FileParse(source, sink).run()


class _CollectorPause:
    """Python's cyclic garbage collector off while any file parses.

    A parse allocates hundreds of thousands of small objects (tokens, trees, AST
    nodes) that live until it ends, and the collections they set off walked them
    again and again: 40% of the parse time. Concurrent parses share one pause: the
    collector comes back when the last of them ends, and only if it was on when the
    first began. Whatever cycle a parse leaves is collected once it runs again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parses = 0
        self._was_enabled = False

    @contextlib.contextmanager
    def paused(self):
        """Hold the collector off for the `with` block (and any block overlapping it)."""
        with self._lock:
            if self._parses == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._parses += 1
        try:
            yield
        finally:
            with self._lock:
                self._parses -= 1
                if self._parses == 0 and self._was_enabled:
                    gc.enable()


_COLLECTOR = _CollectorPause()


class _FileParse:
    """The state of one parse of one file: the comments and skipped lines found so far."""

    def __init__(self, source: SourceFile, sink: Sink) -> None:
        self.source = source
        self.sink = sink
        self.comments: list[ast.Comment] = []
        self.skipped: list[Span] = []

    def run(self) -> ast.Module:
        """Parse the whole file, then declaration by declaration if that fails."""
        source = self.source
        try:
            decls = self._chunk(source.text, 0)
        except _ChunkFailed:
            self.comments.clear()
            decls = []
            for start, end in _chunks(source.text):
                try:
                    decls.extend(self._recovering(start, end))
                except _ChunkFailed:
                    self.skipped.append(Span(source, start, end))  # the whole declaration is lost
        span = Span(source, 0, len(source.text))
        return ast.Module(decls=tuple(decls), comments=tuple(self.comments), skipped=tuple(self.skipped), span=span)

    def _recovering(self, start: int, end: int):
        """Parse one declaration, skipping lines with errors (recorded in `skipped`)."""
        chunk = self.source.text[start:end]
        for attempt in range(MAX_RECOVERIES + 1):
            kept = len(self.comments)
            try:
                return self._chunk(chunk, start, report=True)
            except _ChunkFailed as failed:
                del self.comments[kept:]
                line = _error_line(chunk, failed.position)
                if line is None or attempt == MAX_RECOVERIES:
                    raise
                a, b = line
                chunk = chunk[:a] + " " * (b - a) + chunk[b:]
                self.skipped.append(Span(self.source, start + a, start + b))
        raise _ChunkFailed(None)

    def _chunk(self, chunk: str, offset: int, report: bool = False):
        """The declarations of `chunk` (at `offset` in the file); `_ChunkFailed` on a syntax
        error, which goes to the sink when `report`."""
        source = self.source

        def keep_comment(token: Token) -> None:
            span = Span(source, (token.start_pos or 0) + offset, (token.end_pos or 0) + offset)
            self.comments.append(ast.Comment(text=str(token), span=span))

        try:
            tree = grammar.parse(chunk, "module", on_comment=keep_comment)
        except lark.exceptions.UnexpectedInput as err:
            final = report and report_syntax_error(err, source, self.sink, offset, chunk,
                                                   at_end_of_decl=offset + len(chunk) < len(source.text))
            raise _ChunkFailed(None if final else error_position(err)) from None
        nesting = Nesting()
        builder = AstBuilder(source, self.sink, offset, self.skipped, nesting)
        decls = builder.transform(tree).decls
        if builder.depth + nesting.inner + _SLACK <= MAX_NESTING:
            return decls  # surely shallow enough: no need to measure
        return tuple(decl for decl in decls if self._shallow(decl))

    def _shallow(self, decl: ast.Node) -> bool:
        """Whether `decl` nests at most MAX_NESTING nodes deep; if not, PP111 and the
        declaration is dropped (its span skipped, so its names cause no cascade)."""
        deep = too_deep(decl, MAX_NESTING)
        if deep is None:
            return True
        self.sink.error("PP111", f"nested more than {MAX_NESTING} levels deep", deep.span,
                        help="split the expression, type or text into named parts (a fragment, a type, a variable)")
        self.skipped.append(decl.span)
        return False


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


def too_deep(root: ast.Node, limit: int) -> ast.Node | None:
    """The first node nested more than `limit` levels below `root`, or None (iterative)."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return node
        stack.extend((child, depth + 1) for child in iter_children(node))
    return None


class _ChunkFailed(Exception):
    """A chunk did not parse; `position` is where, relative to the chunk."""

    def __init__(self, position: int | None):
        super().__init__(position)
        self.position = position


def _chunks(text_: str) -> list[tuple[int, int]]:
    """Split the file at declaration keywords in column 1 outside strings and comments."""
    starts = [0]
    skips = [(m.start(), m.end()) for m in _SKIP.finditer(text_) if m.group(0) != "\n"]
    k = 0
    for m in _DECL_START.finditer(text_):
        while k < len(skips) and skips[k][1] <= m.start():
            k += 1
        if k < len(skips) and skips[k][0] < m.start() < skips[k][1]:
            continue  # inside a string or comment
        if m.start() > 0:
            starts.append(m.start())
    starts.append(len(text_))
    return [(a, b) for a, b in zip(starts, starts[1:]) if a < b]
