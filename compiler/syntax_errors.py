"""Lark's parse errors as PP1xx diagnostics.

Terminal names become what a user types (`}` rather than RBRACE) and the
hint table of `grammar.errors` adds a `help:` line. Used for whole files and
for the content of strings (`in_template`).
"""
from __future__ import annotations

import re

import lark

from .. import grammar
from ..grammar import errors as syntax
from .span import Span

describe_expected = syntax.describe_expected


def error_position(err) -> int | None:
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        return err.pos_in_stream
    token = getattr(err, "token", None)
    if token is None or token.type == "$END":
        return None
    return token.start_pos


def _terminal_patterns() -> dict[str, str]:
    return {t.name: t.pattern.value for t in grammar.parser().terminals if t.pattern.type == "str"}


def report_syntax_error(err, source, sink, offset, chunk, in_template=False, at_end_of_decl=False):
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

