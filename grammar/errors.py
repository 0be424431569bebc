"""Turn Lark's parse errors into PP1xx diagnostics with readable messages.

Terminal names become what a user types (`}` rather than RBRACE), and a small
table of known mistakes adds a `help:` line. Each rule of the table has a test
in tests/test_syntax_errors.py.
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
    "$END": "end of input",
    "_OPEN_INTERP": "`{{`",
    "_OPEN_TAG": "`{%`",
    "_CLOSE_TAG": "`%}`",
    "_ARROW": "`->`",
}


def describe_terminal(name: str, patterns: dict[str, str]) -> str:
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    value = patterns.get(name)
    return f"`{value}`" if value is not None else name.lower()


def describe_expected(expected: Iterable[str], patterns: dict[str, str], limit: int = 8) -> str:
    names = sorted({describe_terminal(n, patterns) for n in expected if n not in ("WS", "COMMENT")})
    if len(names) > limit:
        names = names[:limit] + ["..."]
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# (unexpected text or None, an expected terminal that must be among the
#  expected ones or None, help).  The first matching rule wins.
HINTS: tuple[tuple[str | None, str | None, str], ...] = (
    ("endif", "END", "close every block with `{% end %}` (not endif/endfor)"),
    ("endfor", "END", "close every block with `{% end %}` (not endif/endfor)"),
    ("endif", None, "close every block with `{% end %}` (not endif/endfor)"),
    ("endfor", None, "close every block with `{% end %}` (not endif/endfor)"),
    (":", "EQUAL", "test and dataset inputs are bound with `=`: `name = value`"),
    ("=", "COLON", "settings and record fields use `name: value`"),
    (None, "_CLOSE_TAG", "a block tag is `{% if cond %}`, `{% for x in xs %}`, `{% else %}` or `{% end %}`"),
    ("elif", None, "`elif` and `else` follow the `}` of an `if` block"),
    ("&&", None, "use `and`, `or` and `not`"),
    ("||", None, "use `and`, `or` and `not`"),
    ("!", None, "use `not`, or `!=` for inequality"),
    ("def", None, "declare prompts with `prompt name(params) -> Type { ... }`"),
    ("'", None, "strings use double quotes; single quotes work inside expressions"),
)


def hint_for(unexpected: str, expected: Iterable[str]) -> str | None:
    expected = set(expected)
    for text, needed, help_text in HINTS:
        if text is not None and unexpected != text:
            continue
        if needed is not None and needed not in expected:
            continue
        return help_text
    return None
