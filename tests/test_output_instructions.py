"""Output instructions for targets without native structured output (issue 11 item 12): a form that
fits the output type (an enum's words, one line, a record's notation), or the schema, or none, as the
target option `output_instructions` says; nothing when the prompt already holds them."""
from __future__ import annotations

import json

import pytest

import polyprompt
from polyprompt.compiler import types as T
from polyprompt.compiler.replies import ReplyError, parse_output
from polyprompt.compiler.stdlib_text import output_instructions

from helpers import EXAMPLES

ENUM_PROMPT = '''
enum Decision { publish "on-topic", reject "spam", needs_review }

prompt moderate(review: str) -> Decision {
  system "Decide whether the review can be published."
  user "{{ review }}"
}

target {name} "hf-family:qwen3" {
{option}}
'''


def _system(source: str, tmp_path, target: str) -> str:
    path = tmp_path / "p.prompt"
    path.write_text(source)
    body = polyprompt.load(path).compile(target, {"review": "Great pan."}).body
    return body["prompt"].split("<|im_end|>")[0]


def test_an_enum_answer_gets_its_words_not_the_schema(tmp_path):
    """The issue: an enum output on an open model appended the whole JSON Schema (hundreds of
    tokens, contradicting "answer with one word"). The default writes the allowed words."""
    source = ENUM_PROMPT.replace("{name}", "local").replace("{option}", "")
    system = _system(source, tmp_path, "local")
    assert system.endswith("Decide whether the review can be published.\n\n"
                           "Answer with exactly one of: publish, reject, needs_review. Output only that word.")
    assert "JSON Schema" not in system


@pytest.mark.parametrize("option, expected", [
    ('"schema"', "It must validate against this JSON Schema:"),
    ('"compact"', "Answer with exactly one of: publish, reject, needs_review."),
    ('"none"', None),
])
def test_a_target_chooses_the_form(tmp_path, option, expected):
    source = ENUM_PROMPT.replace("{name}", "local").replace("{option}", f"  output_instructions: {option}\n")
    system = _system(source, tmp_path, "local")
    if expected is None:
        assert system.endswith("Decide whether the review can be published.")
    else:
        assert expected in system


def test_a_bad_option_value_is_pp229(tmp_path):
    path = tmp_path / "p.prompt"
    path.write_text(ENUM_PROMPT.replace("{name}", "local").replace("{option}", '  output_instructions: "short"\n'))
    with pytest.raises(polyprompt.CompileError) as err:
        polyprompt.load(path).compile("local", {"review": "x"})
    assert [d.code for d in err.value.diagnostics] == ["PP229"]
    assert '"compact", "schema" or "none"' in err.value.diagnostics[0].message


def test_each_type_gets_a_form_that_fits():
    record = T.RecordT("Verdict")
    record.fields["answer"] = T.FieldT("answer", T.LiteralT(("yes", "no")), True)
    record.fields["reason"] = T.FieldT("reason", T.STR, False, description="one sentence")
    assert output_instructions(T.LiteralT(("yes", "no")))["compact"] == (
        "Answer with exactly one of: yes, no. Output only that word.")
    assert output_instructions(T.INT)["compact"] == (
        "Respond with a single JSON value of type int and nothing else: no prose, no code fences.")
    assert output_instructions(T.ListT(T.STR))["compact"].startswith("Respond with a single JSON value of type string[]")
    assert output_instructions(record)["compact"] == (
        'Answer in JSON matching this type (`?` marks a field you may leave out):\n'
        '{\n  answer: "yes" | "no",\n  reason?: string, // one sentence\n}')
    assert "It must validate against this JSON Schema:" in output_instructions(record)["schema"]


def test_instructions_the_prompt_already_holds_are_not_added_again():
    """review_moderation calls `output.one_of` itself and invoice_extraction writes `notation(Invoice)`
    under the `typed` heading: the hf bodies hold those instructions once."""
    for name in ("review_moderation", "invoice_extraction"):
        path = EXAMPLES / f"{name}.prompt"
        result = polyprompt.load(path).compile("hf-family:qwen3",
                                               inputs=json.loads(path.with_suffix(".input.json").read_text()))
        instructions = result.request.output.instructions["compact"]
        assert result.body["prompt"].count(instructions) == 1, name
        assert "JSON Schema" not in result.body["prompt"]
        note, = [d for d in result.report if d.code == "PP406"]
        assert "the prompt already holds them" in note.message


@pytest.mark.parametrize("reply", ["publish", " publish\n", '"publish"', "`publish`", "publish.", "Publish"])
def test_an_enum_reply_may_be_the_bare_word(tmp_path, reply):
    path = tmp_path / "p.prompt"
    path.write_text(ENUM_PROMPT.replace("{name}", "local").replace("{option}", ""))
    output = polyprompt.load(path).compile("local", {"review": "x"}).request.output
    assert parse_output(reply, output, tolerant=True) == "publish"


@pytest.mark.parametrize("reply", ["publish it", "maybe", "PUBLISH or reject", ""])
def test_other_words_are_still_reply_errors(tmp_path, reply):
    path = tmp_path / "p.prompt"
    path.write_text(ENUM_PROMPT.replace("{name}", "local").replace("{option}", ""))
    output = polyprompt.load(path).compile("local", {"review": "x"}).request.output
    with pytest.raises(ReplyError):
        parse_output(reply, output, tolerant=True)
    with pytest.raises(ReplyError):
        parse_output("publish", output, tolerant=False)
