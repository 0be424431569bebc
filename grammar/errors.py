"""Readable names for the grammar's terminals, and hints for known mistakes.

`describe_expected` turns terminal names into what a user types (`}` rather
than RBRACE); `hint_for` adds a `help:` line. Each hint has a case in the
error corpus (tests/errors/).
"""
from __future__ import annotations

from typing import Iterable

_FRIENDLY = {
    "NAME": "a name",
    "ESTRING": "a string",
    "TQSTRING": 'a """ string',
    "INT": "an integer",
    "NUMBER": "a number",
    "SIGNED_NUMBER": "a number",
    "PERCENT": "a percentage",
    "TEXT": "text",
    "TAG_COMMENT": "a {# comment #}",
    "COMP_OP": "a comparison",
    "OPTIONAL": "`?`",
    "TRUE": "`true`",
    "FALSE": "`false`",
    "NULL": "`null`",
    "$END": "the end of the input",
    "_OPEN_INTERP": "`{{`",
    "_OPEN_TAG": "`{%`",
    "_CLOSE_TAG": "`%}`",
    "_ARROW": "`->`",
}
# Listed last and only when nothing else fits: names are accepted almost everywhere
# (the lexer sees keywords as names), so "a name" says little.
_VAGUE = {"NAME"}


def quote_code(text: str) -> str:
    """`text` in backquotes, doubled when the text holds one itself."""
    return f"``{text}``" if "`" in text else f"`{text}`"


def describe_terminal(name: str, patterns: dict[str, str]) -> str:
    """What a terminal looks like to a user: a friendly name, its literal text quoted, or its name in lower case."""
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    value = patterns.get(name)
    return quote_code(value) if value is not None else name.lower()


def describe_expected(expected: Iterable[str], patterns: dict[str, str], limit: int = 10) -> str:
    """The expected terminals as one phrase (`a, b or c`), at most `limit` of them, vague ones last; "" for none."""
    expected = [n for n in expected if n not in ("WS", "COMMENT")]
    names = sorted({describe_terminal(n, patterns) for n in expected if n not in _VAGUE})
    if len(names) > limit:
        names = names[:limit] + ["..."]
    names += [describe_terminal(n, patterns) for n in sorted(_VAGUE & set(expected))]
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# (unexpected text or None, a terminal that must be expected or None,
#  kind of the unexpected token or None, help). The first matching rule wins.
HINTS: tuple[tuple[str | None, str | None, str | None, str], ...] = (
    ("endif", None, None, "close every block with `{% end %}` (not endif/endfor)"),
    ("endfor", None, None, "close every block with `{% end %}` (not endif/endfor)"),
    ("if", "LBRACE", None, "write `elif cond { ... }` for another branch"),
    (":", "EQUAL", None, "test and dataset inputs are bound with `=`: `name = value`"),
    ("=", "COLON", None, "settings and record fields use `name: value`"),
    (None, "COLON", "SIGNED_NUMBER", "settings are written `name: value`"),
    (":", "TQSTRING", None, 'a message is written `user "text"`, without a colon'),
    (None, "COMMA", "NAME", "separate the items with `,`"),
    ("&&", None, None, "use `and`, `or` and `not`"),
    ("&", None, None, "use `and`, `or` and `not`"),
    ("||", None, None, "use `and`, `or` and `not`"),
    ("!", None, None, "use `not`, or `!=` for inequality"),
    ("def", None, None, "declare prompts with `prompt name(params) -> Type { ... }`"),
    ("+", None, None, "expressions have no arithmetic; put the pieces side by side in the text"),
    ("-", None, None, "expressions have no arithmetic; put the pieces side by side in the text"),
    ("*", None, None, "expressions have no arithmetic; put the pieces side by side in the text"),
    ('"', "_CLOSE_TAG", None, "inside a one-line string, write strings in expressions with single quotes"),
    ('"', "RBRACE", None, "inside a one-line string, write strings in expressions with single quotes"),
    (None, "_CLOSE_TAG", None, "a block tag is `{% if cond %}`, `{% for x in xs %}`, `{% else %}` or `{% end %}`"),
)


def hint_for(unexpected: str, expected: Iterable[str], kind: str | None = None) -> str | None:
    """The help text of the first hint in `HINTS` matching the unexpected token and what was expected, or None."""
    expected = set(expected)
    for text, needed, needed_kind, help_text in HINTS:
        if text is not None and unexpected != text:
            continue
        if needed is not None and needed not in expected:
            continue
        if needed_kind is not None and kind != needed_kind:
            continue
        return help_text
    return None
