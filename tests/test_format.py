"""The formatter: idempotent, keeps comments and meaning, refuses broken files."""
from __future__ import annotations

import re

import pytest

from polyprompt.api import format_source, format_text
from polyprompt.compiler.span import SourceFile

from helpers import parse, prompt_files

FILES = prompt_files()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_checked_in_files_are_formatted(path):
    text = path.read_text(encoding="utf-8")
    assert format_text(text) == text, f"run `polyprompt fmt {path}`"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_format_is_idempotent_and_keeps_the_tree(path):
    text = path.read_text(encoding="utf-8")
    once = format_text(text)
    assert format_text(once) == once
    assert parse(once)[0] == parse(text)[0]


MESSY = '''// header comment

import   std.output   // trailing on import
enum   Level{low,high}
type Ticket {   // after brace
  // before field
  body:str "the text"   // after field
  level? : Level
}
prompt   p(t:Ticket,n:int=3)->Level{
  model "m" {temperature:0.5,
     // inside settings
     max_tokens:10}


  system """
        Deeply indented.
          More.
        """
  if t.level==high and not n>2{user "a"}elif n in [1,2]{user "b"}else{user "c"}
  // last in body
}
// at the end
'''


def test_messy_source_formats_canonically():
    out = format_text(MESSY)
    assert out == format_text(out)
    assert parse(out)[0] == parse(MESSY)[0]
    for comment in re.findall(r"//[^\n]*", MESSY):
        assert comment.rstrip() in out, comment
    assert '  system """\n    Deeply indented.\n      More.\n    """' in out
    assert "model \"m\" { temperature: 0.5, max_tokens: 10 }" in out
    assert "\n\n\n" not in out


def test_refuses_files_with_syntax_errors():
    result = format_source(SourceFile("bad.prompt", 'prompt p( {\n  user "x"\n}\n'))
    assert result.formatted is None
    assert result.diagnostics and result.diagnostics[0].code.startswith("PP1")


def test_format_of_empty_and_comment_only_files():
    assert format_text("") == ""
    assert format_text("// only a comment\n") == "// only a comment\n"
