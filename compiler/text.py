"""The text syntax inside strings: escapes, the triple-quote dedent, the
block-tag line rule, and nesting of the flat `{% %}` tags.

The grammar parses a string's content into a flat run of text tokens and tags.
`build_pieces` turns that run into `Text`/`Interp`/`IfBlock`/`ForBlock` nodes:

1. escapes are checked on the raw text (so their positions are exact);
2. a `\"\"\"` string drops the newline after the opening quotes and the
   closing quotes' indentation from every line (PP108 when a line has less);
3. a line that holds only block tags or `{# #}` comments disappears with its
   newline;
4. escapes are decoded and the tags are nested (PP105-PP107 when unbalanced);
5. the newline before the closing quotes is dropped: from the last text run
   when the string ends in text, else from the rendered value (`trim_end`),
   so a string that ends in a block renders without a trailing newline.
"""
from __future__ import annotations

import re
from typing import Any, Union

import attrs

from . import ast
from .diagnostics import Sink
from .span import SourceFile, Span

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "{": "{", "}": "}", "\n": ""}
# `\uD83D\uDE00`, a surrogate pair (as JSON writes a character beyond the BMP), is one escape.
_ESCAPE_RE = re.compile(r"\\(u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[\s\S])")


@attrs.define
class RawText:
    """A text run from the grammar; `value` is edited in place by the rules below."""

    value: str
    start: int
    end: int


@attrs.define
class RawTag:
    """A flat tag: kind is interp, if, elif, else, for, end or comment."""

    kind: str
    start: int
    end: int
    expr: ast.Expr | None = None
    var: ast.Ident | None = None


Flat = Union[RawText, RawTag]
LINE_TAGS = {"if", "elif", "else", "for", "end", "comment"}


def check_escapes(text: RawText, file: SourceFile, sink: Sink) -> None:
    """Report the unknown escapes (PP104) and lone surrogate halves (PP110) of a string's raw text."""
    for m in _ESCAPE_RE.finditer(text.value):
        code = m.group(1)
        start = text.start + m.start()
        if code[0] == "u" and len(code) == 5 and 0xD800 <= int(code[1:], 16) <= 0xDFFF:
            sink.error(
                "PP110",
                f"`\\{code}` is half of a surrogate pair, not a character",
                Span(file, start, start + 6),
                help="write the character itself, or both halves of its pair (`\\ud83d\\ude00` for 😀)",
            )
        elif code[0] not in ESCAPES and not (code[0] == "u" and len(code) in (5, 11)):
            sink.error(
                "PP104",
                f"unknown escape sequence `\\{code[0]}`",
                Span(file, start, start + 2),
                help="write `\\\\` for a backslash; known escapes: \\n \\t \\r \\\\ \\\" \\' \\{ \\} \\uXXXX",
            )


def decode_escapes(value: str) -> str:
    """The string with its backslash escapes replaced by the characters they stand for."""
    def sub(m: re.Match) -> str:
        code = m.group(1)
        if code[0] == "u" and len(code) == 11:  # a surrogate pair: one character
            return chr(0x10000 + ((int(code[1:5], 16) - 0xD800) << 10) + int(code[7:], 16) - 0xDC00)
        if code[0] == "u" and len(code) == 5:
            return chr(int(code[1:], 16))
        return ESCAPES.get(code, m.group(0))

    return _ESCAPE_RE.sub(sub, value) if "\\" in value else value


def dedent_block(flat: list[Flat], file: SourceFile, sink: Sink, content_start: int, content: str) -> None:
    """Apply the triple-quote rules to the text runs of a block string, in place."""
    if "\n" not in content:
        return  # """one line""": nothing to strip
    last_nl = content.rfind("\n")
    tail = content[last_nl + 1 :]
    indent = tail if tail.strip(" \t") == "" else ""
    opening = len(content) - len(content.lstrip(" \t"))  # spaces after the opening quotes
    first = flat[0] if flat and isinstance(flat[0], RawText) else None
    starts_on_next_line = content[opening:].startswith("\n")
    if first is not None and first.start == content_start and starts_on_next_line:
        first.value = first.value[opening + 1 :]
        first.start += opening + 1
    if not indent:
        return
    at_line_start = starts_on_next_line  # text right after the quotes keeps its spaces
    for n, piece in enumerate(flat):
        if not isinstance(piece, RawText):
            at_line_start = False
            continue
        followed_by_tag = n + 1 < len(flat)
        piece.value = _strip_indent(piece, indent, at_line_start, followed_by_tag, file, sink)
        at_line_start = piece.value.endswith("\n") or (at_line_start and piece.value == "")


def _under_indented(line: str, indent: str, offset: int, file: SourceFile, sink: Sink) -> None:
    ws = len(line) - len(line.lstrip(" \t"))
    sink.error("PP108", "this line is indented less than the closing quotes", Span(file, offset, offset + max(ws, 1)),
               help=f"indent every line of the string by at least {len(indent)} characters, "
               "or move the closing quotes left")


def _strip_indent(piece: RawText, indent: str, at_line_start: bool, followed_by_tag: bool,
                  file: SourceFile, sink: Sink) -> str:
    """Strip `indent` from each line start in one text run.

    A line of only whitespace becomes empty. The last line of a run that a
    `{{ }}` or `{% %}` follows is the start of that tag's line: it must hold
    the indentation too.
    """
    lines = piece.value.split("\n")
    out = []
    offset = piece.start
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if i > 0 or at_line_start:
            if last and followed_by_tag and not line.startswith(indent):
                _under_indented(line, indent, offset, file, sink)
                line = line.lstrip(" \t")
            elif line.strip(" \t") == "" and not (last and followed_by_tag):
                line = ""
            elif line.startswith(indent):
                line = line[len(indent) :]
            elif not (last and line == ""):
                _under_indented(line, indent, offset, file, sink)
        out.append(line)
        offset += len(lines[i]) + 1
    return "\n".join(out)


def drop_tag_lines(flat: list[Flat]) -> list[Flat]:
    """Remove lines that hold only block tags or comments, with their newline.

    A line is a run of items between newlines. When a tag-only line is the
    last line of the string (no newline after it), the newline before it goes.
    """
    lines: list[list[Flat]] = [[]]
    for piece in flat:
        if isinstance(piece, RawTag):
            lines[-1].append(piece)
            continue
        parts = _split_lines(piece.value)
        offset = piece.start
        for k, part in enumerate(parts):
            if k:
                lines[-1].append(RawText("\n", offset - 1, offset))
                lines.append([])
            if part:
                lines[-1].append(RawText(part, offset, offset + len(part)))
            offset += len(part) + 1
    out: list[Flat] = []
    for n, line in enumerate(lines):
        newline = line[-1] if line and isinstance(line[-1], RawText) and line[-1].value == "\n" else None
        body = line[:-1] if newline else line
        tags = [p for p in body if isinstance(p, RawTag)]
        tag_only = bool(tags) and all(p.kind in LINE_TAGS for p in tags) and all(
            isinstance(p, RawTag) or p.value.strip(" \t") == "" for p in body
        )
        if not tag_only:
            out.extend(line)
            continue
        out.extend(tags)
        if newline is None and n > 0:
            _drop_last_newline(out, len(out) - len(tags))
    return out


_BREAK_RE = re.compile(r"\\[\s\S]|\n")


def _split_lines(value: str) -> list[str]:
    """Split at newlines that are not escaped (`\\` + newline continues a line)."""
    parts, start = [], 0
    for m in _BREAK_RE.finditer(value):
        if m.group(0) == "\n":
            parts.append(value[start : m.start()])
            start = m.end()
    parts.append(value[start:])
    return parts


def _drop_last_newline(out: list[Flat], before: int) -> None:
    for k in range(before - 1, -1, -1):
        item = out[k]
        if isinstance(item, RawText) and item.value == "\n":
            del out[k]
            return
        if isinstance(item, RawText) and item.value.strip(" \t") == "":
            continue
        return


def trim_final_newline(pieces: tuple[ast.Piece, ...]) -> tuple[tuple[ast.Piece, ...], bool]:
    """Drop the newline before a block string's closing quotes.

    Returns the pieces and whether the renderer must still trim one trailing
    newline (when the string ends in a block, the newline is inside it).
    """
    if pieces and isinstance(pieces[-1], ast.Text):
        last = pieces[-1]
        if last.value.endswith("\n"):
            value = last.value[:-1]
            rest = pieces[:-1] + ((attrs.evolve(last, value=value),) if value else ())
            return rest, False
        return pieces, False
    return pieces, bool(pieces)


def nest(flat: list[Flat], file: SourceFile, sink: Sink) -> tuple[ast.Piece, ...]:
    """Nest the flat tags into blocks; report unbalanced tags."""
    root: list = []
    stack: list[tuple[RawTag, list, dict]] = []  # (opening tag, current body, block state)
    body = root

    for piece in flat:
        if isinstance(piece, RawText):
            value = decode_escapes(piece.value)
            if value:  # adjacent runs are joined once the body is complete (`_merged`)
                body.append(ast.Text(value=value, span=Span(file, piece.start, piece.end)))
            continue
        span = Span(file, piece.start, piece.end)
        kind = piece.kind
        if kind == "comment":
            continue
        if kind == "interp":
            assert piece.expr is not None  # the tag scanner gives every interp its expression
            body.append(ast.Interp(expr=piece.expr, span=span))
        elif kind in ("if", "for"):
            state: dict[str, Any] = {"branches": [], "orelse": None, "cond": piece.expr}
            stack.append((piece, body, state))
            body = []
        elif kind in ("elif", "else"):
            if not stack or stack[-1][0].kind != "if" or stack[-1][2]["orelse"] is not None:
                sink.error(
                    "PP107",
                    f"`{{% {kind} %}}` without a matching `{{% if %}}`"
                    if not stack or stack[-1][0].kind != "if"
                    else f"`{{% {kind} %}}` after `{{% else %}}`",
                    span,
                    help="an if block is `{% if a %}...{% elif b %}...{% else %}...{% end %}`",
                )
                continue
            state = stack[-1][2]
            state["branches"].append((state["cond"], _merged(body)))
            if kind == "elif":
                state["cond"] = piece.expr
            else:
                state["orelse"] = []
                state["cond"] = None
            body = [] if kind == "elif" else state["orelse"]
        elif kind == "end":
            if not stack:
                sink.error("PP105", "`{% end %}` without an open block", span,
                           help="remove it, or open a block with `{% if ... %}` or `{% for ... %}`")
                continue
            opening, parent, state = stack.pop()
            parent.append(_block(opening, state, body, Span(file, opening.start, piece.end)))
            body = parent
    while stack:  # report, then close at the end so the block's expressions are still checked
        opening, parent, state = stack.pop()
        span = Span(file, opening.start, opening.end)
        sink.error("PP106", f"`{{% {opening.kind} %}}` is never closed", span, help="close the block with `{% end %}`")
        parent.append(_block(opening, state, body, span))
        body = parent
    return _merged(root)


def _merged(body: list) -> tuple[ast.Piece, ...]:
    """The pieces of a body with each run of adjacent texts joined into one `Text`, in one
    `join` per run: joining them pair by pair copied a long string once per line (quadratic)."""
    out: list = []
    run: list[ast.Text] = []
    for piece in body + [None]:
        if isinstance(piece, ast.Text):
            run.append(piece)
            continue
        if len(run) == 1:
            out.append(run[0])
        elif run:
            out.append(ast.Text(value="".join(t.value for t in run), span=run[0].span.to(run[-1].span)))
        run = []
        if piece is not None:
            out.append(piece)
    return tuple(out)


def _block(opening: RawTag, state: dict, body: list, span: Span) -> ast.Piece:
    """The node of a block that ends here, from its opening tag and what it collected."""
    if opening.kind == "for":
        assert opening.var is not None and opening.expr is not None  # a for tag that parsed has both
        return ast.ForBlock(var=opening.var, iterable=opening.expr, body=_merged(body), span=span)
    if state["cond"] is not None:
        state["branches"].append((state["cond"], _merged(body)))
    orelse = _merged(state["orelse"]) if state["orelse"] is not None else None
    return ast.IfBlock(branches=tuple(state["branches"]), orelse=orelse, span=span)
