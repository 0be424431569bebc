"""The text syntax inside strings: exact values after the whitespace rules."""
from __future__ import annotations

import pytest

from polyprompt.compiler import ast

from helpers import template


def flat(pieces) -> str:
    """A readable rendering of pieces: text as is, tags as markers."""
    out = []
    for p in pieces:
        if isinstance(p, ast.Text):
            out.append(p.value)
        elif isinstance(p, ast.Interp):
            out.append("<expr>")
        elif isinstance(p, ast.IfBlock):
            out.append("<if>" + "|".join(flat(body) for _, body in p.branches)
                       + ("<else>" + flat(p.orelse) if p.orelse is not None else "") + "</if>")
        elif isinstance(p, ast.ForBlock):
            out.append("<for>" + flat(p.body) + "</for>")
    return "".join(out)


CASES = [
    ('"hello"', "hello"),
    ('"a\\nb\\tc \\"q\\" \\\\ \\{{ x }}"', 'a\nb\tc "q" \\ {{ x }}'),
    ('"\\u00e9t\\u00e9"', "été"),
    ('"""one line"""', "one line"),
    ('"""\n  first\n    indented\n\n  last\n  """', "first\n  indented\n\nlast"),
    ('"""\n    keep trailing newline?\n\n    """', "keep trailing newline?\n"),
    ('"""\n  a \\\n  b\n  """', "a b"),
    ('"""\n  Hello\n  {% if x %}\n  yes\n  {% end %}\n  bye\n  """', "Hello\n<if>yes\n</if>bye"),
    ('"""\n  items:\n  {% for i in xs %}\n  - {{ i }}\n  {% end %}\n  """', "items:\n<for>- <expr>\n</for>"),
    ('"""\n  {# a comment line #}\n  text\n  """', "text"),
    ('"a {% if x %}b{% else %}c{% end %} d"', "a <if>b<else>c</if> d"),
    ('"""\n  x {% if y %}inline{% end %}\n  z\n  """', "x <if>inline</if>\nz"),
    ('"json needs no escaping: {\\"a\\": 1} and { b }"', 'json needs no escaping: {"a": 1} and { b }'),
    ('"// not a comment"', "// not a comment"),
]


@pytest.mark.parametrize("source,expected", CASES, ids=range(len(CASES)))
def test_string_values(source, expected):
    tpl, diagnostics = template(source)
    assert diagnostics == []
    assert flat(tpl.pieces) == expected


def test_block_ending_in_a_block_trims_at_render_time():
    tpl, _ = template('"""\n  a\n  {% if x %}\n  b\n  {% end %}\n  """')
    assert tpl.trim_end is True
    tpl, _ = template('"""\n  a\n  """')
    assert tpl.trim_end is False


def test_text_keeps_exact_spans():
    source = '"""\n  Hi {{ name }}\n  """'
    tpl, _ = template(source)
    interp = tpl.pieces[1]
    assert source[interp.span.start:interp.span.end] == "{{ name }}"
    assert source[interp.expr.span.start:interp.expr.span.end] == "name"


@pytest.mark.parametrize("source,code,col", [
    ('"bad \\q escape"', "PP104", 6),
    ('"{% end %}"', "PP105", 2),
    ('"{% if x %}open"', "PP106", 2),
    ('"{% else %}"', "PP107", 2),
    ('"{% if a %}{% else %}{% else %}{% end %}"', "PP107", 22),
    ('"""\n    a\n  b\n    """', "PP108", 1),
    ('"{{ x "', "PP102", 5),
    ('"{% endif %}"', "PP101", 5),
])
def test_template_errors_have_exact_positions(source, code, col):
    _, diagnostics = template(source)
    assert [(d.code, d.span.start_line_col[1]) for d in diagnostics][:1] == [(code, col)]
