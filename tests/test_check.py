"""Semantic analysis on small programs: what is accepted and what is not."""
from __future__ import annotations

import pytest

from polyprompt.api import check, check_text

from helpers import EXAMPLES, STDLIB


def codes(text: str) -> list[tuple[str, int, int]]:
    return [(d.code, *d.span.start_line_col) for d in check_text(text)]


HEADER = '''
enum Category { billing, bug, other }
type Shot { ticket: str, answer: Result }
type Result { category: Category, urgent: bool "blocked?", refund?: float }
tool lookup(order_id: str, verbose: bool = false) -> str "Look up an order."
'''


def test_a_full_prompt_checks_clean():
    text = HEADER + '''
prompt triage(ticket: str, shots: list[Shot] = [], history: messages = [], photo: image? = null) -> Result {
  model "gpt-4o-mini" { temperature: 0, max_tokens: 300, stop: ["END"] }
  tools lookup
  system """
    Categories: {{ Category | json }}? no: {{ schema(Result) }}
    {% for s in shots %}{{ s.ticket | upper }} -> {{ s.answer.category }}{% end %}
    """
  cache
  for shot in shots {
    user "{{ shot.ticket }}"
    assistant "{{ shot.answer | json }}"
  }
  history
  user { "{{ ticket | trim }}" image(photo) }
  tool_call lookup(order_id = "A-1") id "call_1"
  tool_result lookup id "call_1" "shipped"
  if target.family == "gemma" {
    user "short"
  }
}

test triage "billing" {
  ticket = "charged twice"
  shots = [{ ticket: "x", answer: { category: "bug", urgent: false } }]
  expect category == billing and not urgent
}

dataset triage "logs" from "data/t.jsonl" {
  ticket = row.text
  output = row.label
  split validation 10% seed 1
}
'''
    found = codes(text)
    # Category | json is a type used as a value: one deliberate error to prove the rule
    assert [c for c, *_ in found] == ["PP220"]


@pytest.mark.parametrize("body,code", [
    ('user "{{ missing }}"', "PP200"),
    ('user "{{ t.body }}"', "PP203"),
    ('user "{{ t | json(1, 2) }}"', "PP223"),
    ('user "{{ t | shout }}"', "PP222"),
    ('user "{{ t }}"', "PP230"),
    ('for x in n { user "{{ x }}" }', "PP221"),
    ('history', "PP228"),
    ('tools nothing', "PP209"),
    ('model { temperature: 3 }', "PP229"),
    ('model { temperatur: 1 }', "PP242"),
    ('model { temperature: n }', "PP234"),
    ('user "{{ n }}" if false { user "x" }', "PP241"),
    ('user { image(n) }', "PP231"),
    ('tool_call lookup() id "1"', "PP224"),
    ('tool_call lookup(order_id = "1", extra = 1)', "PP225"),
    ('user "{{ t.ticket == 3 }}"', "PP220"),
    ('use frag()', "PP211"),
    ('user "{{ n.x }}"', "PP203"),
    ('user "{{ Category.billin }}"', "PP204"),
    ('user "{{ t.answer.category == 3 }}"', "PP204"),  # a number compared with an enum (was a crash)
])
def test_each_mistake_is_reported(body, code):
    text = HEADER + 'fragment frag() "text"\n' + f"prompt p(t: Shot, n: int) {{\n  user \"{{{{ t.ticket }}}}{{{{ n }}}}\"\n  {body}\n}}\n"
    found = [c for c, *_ in codes(text)]
    assert code in found, found


def test_warnings_for_unused_parameters_and_empty_prompts():
    found = codes("prompt p(used: str, unused: str, _private: str) {\n  user \"{{ used }}\"\n}\nprompt q() {\n  model { temperature: 0 }\n}\n")
    assert found == [("PP240", 1, 21), ("PP243", 4, 8)]


def test_recursive_records_and_fragments():
    assert codes('type Node { name: str, children: list[Node] }\nprompt p(n: Node) {\n  user "{{ n.children[0].name }}"\n}\n') == []
    found = codes('fragment a() "{{ b() }}"\nfragment b() "{{ a() }}"\nprompt p() {\n  user "{{ a() }}"\n}\n')
    assert [c for c, *_ in found] == ["PP233", "PP233"]


def test_test_and_dataset_arguments_are_checked():
    text = HEADER + 'prompt p(ticket: str, n: int = 1) -> Result {\n  user "{{ ticket }}{{ n }}"\n}\n'
    text += 'test p "t" {\n  n = "x"\n  extra = 1\n}\n'
    text += 'dataset p from "d.jsonl" {\n  ticket = row.a\n  split a 100%\n}\n'
    found = [c for c, *_ in codes(text)]
    assert sorted(found) == sorted(["PP224", "PP220", "PP225", "PP232"])


def test_duplicate_and_unknown_declarations():
    found = codes('type A { x: str }\ntype A { y: str }\ntype B { a: Missing, b: list[str, str], c: map }\n')
    assert [c for c, *_ in found] == ["PP201", "PP202", "PP227", "PP227"]


def test_examples_and_stdlib_check_clean():
    diagnostics = check([EXAMPLES, STDLIB])
    assert [str(d.span) + " " + d.message for d in diagnostics] == []


def test_imports(tmp_path):
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "lib.prompt").write_text('fragment tone() "Be brief."\ntype T { a: str }\n')
    (tmp_path / "a.prompt").write_text('import "./b.prompt"\n')
    (tmp_path / "b.prompt").write_text('import "./a.prompt"\n')
    (tmp_path / "main.prompt").write_text(
        'import "./lib.prompt" { tone, T as Thing }\nimport "./lib.prompt" as lib\nimport std.output\n'
        'prompt p(x: Thing) -> Thing {\n  user "{{ tone() }} {{ lib.tone() }} {{ x.a }} {{ output.typed(Thing) }}"\n}\n')
    assert [d.message for d in check([tmp_path / "main.prompt"])] == []
    assert {d.code for d in check([tmp_path / "a.prompt"]) if d.is_error} == {"PP206"}
    outside = tmp_path / "sub"
    outside.mkdir()
    (outside / "polyprompt.toml").write_text("")
    (outside / "x.prompt").write_text('import "../lib.prompt"\nimport "./nope.prompt"\nimport std.nothing\n')
    assert [d.code for d in check([outside / "x.prompt"])] == ["PP207", "PP205", "PP205"]
