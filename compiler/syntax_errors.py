"""Lark's parse errors as PP1xx diagnostics.

What the user sees is built from the real situation at the error, not from
Lark's raw exception:

- the token at the error is re-lexed with every terminal, because the
  contextual lexer's fallback may have returned a long text run: a character
  no terminal accepts is PP100, an unclosed quote PP103;
- the expected tokens come from the interactive parser (`accepts()`), which is
  exact, where the LALR table's lookahead sets are merged and too wide;
- running out of input names the bracket that is never closed (PP102);
- `grammar.errors.HINTS` adds a `help:` line for known mistakes.
"""
from __future__ import annotations

import functools
import re

import lark

from .. import grammar
from ..grammar import errors as syntax
from .diagnostics import Sink
from .span import SourceFile, Span

describe_expected = syntax.describe_expected
#: Terminals of the text syntax: the fallback lexer's catch-alls, never "the token" at an error.
_CATCH_ALL = {"TEXT", "TAG_COMMENT", "WS", "COMMENT"}
# Strings and comments, stepped over when matching brackets.
_SKIP = re.compile(r'"""(?:[^"\\]|"(?!"")|\\[\s\S])*(?:"""|$)|"(?:[^"\\\n]|\\.)*"?|//[^\n]*')
_PAIRS = {"{": "}", "(": ")", "[": "]"}


def error_position(err) -> int | None:
    """Where the error is, relative to the parsed text (None at the end)."""
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        return err.pos_in_stream
    token = getattr(err, "token", None)
    if token is None or token.type == "$END":
        return None
    return token.start_pos


@functools.lru_cache(maxsize=1)
def _terminals() -> tuple[dict[str, str], list[tuple[str, re.Pattern]]]:
    terminals = grammar.parser().terminals
    patterns = {t.name: t.pattern.value for t in terminals if t.pattern.type == "str"}
    regexes = [(t.name, re.compile(t.pattern.to_regexp())) for t in terminals if t.name not in _CATCH_ALL]
    return patterns, regexes


def _token_at(text: str, pos: int) -> tuple[str, str] | None:
    """The longest (type, value) any real terminal matches at `pos`."""
    best = None
    for name, regex in _terminals()[1]:
        m = regex.match(text, pos)
        if m and m.end() > pos and (best is None or m.end() - pos > len(best[1])):
            best = (name, m.group(0))
    return best


def _expected(err) -> set[str]:
    parser = getattr(err, "interactive_parser", None)
    if parser is not None:
        try:
            return set(parser.accepts())
        except Exception:  # accepts() simulates the parser; the table's set is the fallback
            pass
    return set(getattr(err, "expected", None) or getattr(err, "allowed", None) or ())


def report_syntax_error(err, source: SourceFile, sink: Sink, offset: int, chunk: str,
                        in_template: bool = False, at_end_of_decl: bool = False) -> bool:
    """Report one Lark error over `chunk` (which starts at `offset` in `source`). True when the
    cause found runs on through the rest of the chunk (a triple-quoted string never closed): what
    follows is no use to parse."""
    patterns = _terminals()[0]
    expected = _expected(err)
    pos = error_position(err)
    if pos is None:
        _report_end(source, sink, offset, chunk, expected, in_template, at_end_of_decl)
        return False
    if not in_template:
        if _report_runaway_block_string(source, sink, offset, chunk, pos):
            return True
        if _report_quote_in_interpolation(source, sink, offset, chunk, pos):
            return False
    if not in_template and chunk.startswith('"', pos):
        if _report_unterminated(source, sink, offset, chunk, pos):
            return False
    token = getattr(err, "token", None)
    if token is not None and token.type not in _CATCH_ALL:
        kind, value = token.type, str(token)
    else:
        found = _token_at(chunk, pos)
        if found is None:
            ch = chunk[pos]
            sink.error("PP100", f"unexpected character `{ch}`", Span(source, offset + pos, offset + pos + 1),
                       help=syntax.hint_for(ch, expected))
            return False
        kind, value = found
    if in_template and expected == {"RBRACE"}:
        _report_single_brace(source, sink, offset, chunk, pos)
        return False
    shown = value if len(value) <= 30 and "\n" not in value else value.split("\n")[0][:27] + "..."
    desc = describe_expected(expected, patterns)
    sink.error(
        "PP101",
        f"unexpected {syntax.quote_code(shown)}" + (f"; expected {desc}" if desc else ""),
        Span(source, offset + pos, offset + pos + max(1, len(value.split("\n")[0]))),
        help=syntax.hint_for(value, expected, kind),
    )
    return False


#: The keywords that start a declaration (in column 1).
DECL_KEYWORDS = ("import", "prompt", "type", "enum", "tool", "fragment", "test", "dataset", "target")
# A line a string would not hold if it had been closed: a declaration keyword or `}` in column 1.
_CODE_LINE = re.compile(r"^(?:(?:%s)\b|\})" % "|".join(DECL_KEYWORDS), re.M)
_ONE_LINE_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _report_runaway_block_string(source, sink, offset, chunk, pos) -> bool:
    """An error right after a triple-quoted string that swallowed code (a `}` or a declaration in column 1):
    the string's own closing quotes are missing, and it ran on to the next string's opening ones.
    PP103 at its opening quotes, where the mistake is, not at the text the parser tripped on."""
    before = len(chunk[:pos].rstrip())
    if not chunk.startswith('"""', before - 3):
        return False
    string = next((m for m in _SKIP.finditer(chunk, 0, before) if m.end() == before), None)
    if string is None or not string.group(0).startswith('"""') or not _CODE_LINE.search(string.group(0), 3):
        return False
    start, closing = offset + string.start(), offset + string.end() - 3
    closing_line = source.line_col(closing)[0]
    sink.error("PP103", f'this `"""` string is never closed: it runs on to the `"""` on line {closing_line}',
               Span(source, start, start + 3),
               help=f'close it with `"""` where its text ends; the `"""` on line {closing_line} '
               "opens another string")
    return True


def _report_quote_in_interpolation(source, sink, offset, chunk, pos) -> bool:
    """An error right after a one-line string that stops inside `{{ }}` or `{% %}`: a `"` in the
    expression ended the string. PP101 at that quote, with the fix."""
    line_start = chunk.rfind("\n", 0, pos) + 1
    string = next((m for m in _ONE_LINE_STRING.finditer(chunk, line_start, pos) if m.end() == pos), None)
    if string is None:
        return False
    text = string.group(0)
    if text.rfind("{{") <= text.rfind("}}") and text.rfind("{%") <= text.rfind("%}"):
        return False
    quote = offset + string.end() - 1
    sink.error("PP101", 'this `"` ends the string inside `{{ }}`', Span(source, quote, quote + 1),
               help="inside a one-line string, write strings in expressions with single quotes "
               "(`'text'`), or use a \"\"\" string")
    return True


def _report_unterminated(source, sink, offset, chunk, pos) -> bool:
    """A quote with no closing quote: PP103 at the opening quotes."""
    start = pos - 2 if chunk[max(0, pos - 2):pos + 1] == '"""' else pos
    triple = chunk.startswith('"""', start)
    rest = chunk[start + 3:] if triple else chunk[start + 1:]
    closed = ('"""' in rest) if triple else re.match(r'(?:[^"\\\n]|\\[^\n])*"', rest) is not None
    if closed:
        return False
    sink.error(
        "PP103",
        "unterminated string",
        Span(source, offset + start, offset + start + (3 if triple else 1)),
        help='close the string with """' if triple
        else 'close the string with " on the same line, or use """ for text over several lines',
    )
    return True


def _report_single_brace(source, sink, offset, chunk, pos) -> None:
    brace = chunk.rfind("}", 0, pos)
    at = brace if brace != -1 and not chunk[brace + 1:pos].strip() else pos
    sink.error("PP101", "an interpolation closes with `}}`, not `}`", Span(source, offset + at, offset + at + 1),
               help="write `}}` to close `{{`")


def _report_end(source, sink, offset, chunk, expected, in_template, at_end_of_decl) -> None:
    patterns = _terminals()[0]
    desc = describe_expected(expected, patterns)
    opening = None if in_template else _unclosed_bracket(chunk)
    if opening is not None:
        ch = chunk[opening]
        sink.error("PP102", f"`{ch}` is never closed" + (f"; expected {desc}" if desc else ""),
                   Span(source, offset + opening, offset + opening + 1),
                   help=f"add the closing `{_PAIRS[ch]}`")
        return
    if in_template and "RBRACE" in expected and "_CLOSE_TAG" not in expected:
        desc = desc.replace("`}`", "`}}`")  # inside `{{ }}` the closing token is two braces
    end = offset + len(chunk.rstrip())
    where = "the string" if in_template else ("the declaration" if at_end_of_decl else "the file")
    sink.error(
        "PP102",
        f"unexpected end of {where}" + (f"; expected {desc}" if desc else ""),
        Span(source, max(end - 1, 0), max(end, 1) if source.text else 0),
        help=syntax.hint_for("", expected),
    )


def _unclosed_bracket(chunk: str) -> int | None:
    """The position of the last bracket with no closing partner, outside strings."""
    stack: list[int] = []
    pos = 0
    for m in _SKIP.finditer(chunk):
        _scan(chunk, pos, m.start(), stack)
        pos = m.end()
    _scan(chunk, pos, len(chunk), stack)
    return stack[-1] if stack else None


def _scan(chunk: str, start: int, end: int, stack: list[int]) -> None:
    for i in range(start, end):
        ch = chunk[i]
        if ch in _PAIRS:
            stack.append(i)
        elif ch in (")", "]", "}") and stack and _PAIRS[chunk[stack[-1]]] == ch:
            stack.pop()
