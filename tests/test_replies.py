"""Replies: provider responses back to text, tool calls and typed values."""
from __future__ import annotations

import json

import pytest

import polyprompt
from polyprompt import backends
from polyprompt.compiler.replies import ReplyError

PROMPT = '''
enum Category { billing, bug }
type Triage { category: Category, urgent: bool, note?: str }
tool lookup(order_id: str) "Look up an order."
prompt triage(ticket: str) -> Triage {
  tools lookup
  user "{{ ticket }}"
}
'''


@pytest.fixture
def pf(tmp_path):
    path = tmp_path / "t.prompt"
    path.write_text(PROMPT)
    return polyprompt.load(path)


OPENAI_REPLY = {"choices": [{"finish_reason": "stop", "message": {
    "role": "assistant", "content": json.dumps({"category": "billing", "urgent": False, "note": None})}}]}
ANTHROPIC_REPLY = {"stop_reason": "end_turn", "content": [{"type": "text", "text": '{"category": "bug", "urgent": true}'}]}
GEMINI_REPLY = {"candidates": [{"finishReason": "STOP", "content": {"role": "model", "parts": [
    {"text": '{"category": "bug", "urgent": false, "note": "x"}'}]}}]}


def test_typed_values_from_each_provider(pf):
    for target, reply, value in [
        ("openai-chat", OPENAI_REPLY, {"category": "billing", "urgent": False}),  # strict null -> absent
        ("anthropic", ANTHROPIC_REPLY, {"category": "bug", "urgent": True}),
        ("gemini", GEMINI_REPLY, {"category": "bug", "urgent": False, "note": "x"}),
    ]:
        result = pf.compile(target, {"ticket": "t"})
        assert result.parse(reply).value == value, target


def test_tool_calls_come_back_neutral(pf):
    openai = {"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"order_id": "A1"}'}}]}}]}
    anthropic = {"stop_reason": "tool_use", "content": [{"type": "tool_use", "id": "c1", "name": "lookup",
                                                         "input": {"order_id": "A1"}}]}
    for target, reply in [("openai-chat", openai), ("anthropic", anthropic)]:
        r = polyprompt.parse(target, reply)
        assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [("c1", "lookup", {"order_id": "A1"})]


def test_invalid_replies_say_what_is_wrong(pf):
    result = pf.compile("openai-chat", {"ticket": "t"})
    bad = {"choices": [{"message": {"content": '{"category": "refund", "urgent": "no"}'}}]}
    with pytest.raises(ReplyError) as err:
        result.parse(bad)
    assert "category" in str(err.value) and "urgent" in str(err.value)
    with pytest.raises(ReplyError, match="not JSON"):
        result.parse({"choices": [{"message": {"content": "Sure! Here it is"}}]})


def test_fallback_mode_finds_json_in_prose(tmp_path):
    path = tmp_path / "t.prompt"
    path.write_text(PROMPT)
    from polyprompt.compiler.replies import parse_output

    output = polyprompt.load(path).compile("anthropic", {"ticket": "t"}).request.output
    text = 'Here you go:\n```json\n{"category": "bug", "urgent": true}\n```\nAnything else?'
    assert parse_output(text, output, tolerant=True) == {"category": "bug", "urgent": True}
    assert parse_output('Result: {"category": "billing", "urgent": false} done', output, tolerant=True)["category"] == "billing"
    with pytest.raises(ReplyError):
        parse_output(text, output, tolerant=False)


def test_a_reply_nesting_thousands_of_brackets_is_a_reply_error(pf):
    """Python's JSON parser recurses: a reply like `[[[[...` is a ReplyError, not a RecursionError,
    and the prose search skips such a run instead of trying each of its brackets."""
    from polyprompt.compiler.replies import parse_output

    output = pf.compile("anthropic", {"ticket": "t"}).request.output
    for text in ("[" * 100_000, '{"a": ' * 5000 + "1" + "}" * 5000):
        for tolerant in (False, True):
            with pytest.raises(ReplyError, match="nests too deep|is not JSON"):
                parse_output(text, output, tolerant=tolerant)
    text = "x " + "[" * 50_000 + ' and then {"category": "bug", "urgent": true}'
    assert parse_output(text, output, tolerant=True) == {"category": "bug", "urgent": True}


REPLIES = {
    "openai-compatible": OPENAI_REPLY,
    "mistral": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": [
        {"type": "text", "text": '{"category": "bug", "urgent": true}'}]}}]},
    "ollama": {"done": True, "done_reason": "stop", "message": {"role": "assistant",
                                                              "content": '{"category": "bug", "urgent": true}'}},
    "vertex": GEMINI_REPLY,
    "openai-responses": {"status": "completed", "output": [{"type": "message", "role": "assistant", "content": [
        {"type": "output_text", "text": '{"category": "bug", "urgent": true, "note": null}', "annotations": []}]}]},
    "bedrock-converse": {"stopReason": "end_turn", "output": {"message": {"role": "assistant", "content": [
        {"text": '{"category": "bug", "urgent": true}'}]}}},
}


@pytest.mark.parametrize("target", sorted(REPLIES))
def test_every_target_reads_its_replies(pf, target):
    expected = {"openai-compatible": {"category": "billing", "urgent": False},
                "vertex": {"category": "bug", "urgent": False, "note": "x"}}.get(target, {"category": "bug", "urgent": True})
    assert pf.compile(target, {"ticket": "t"}).parse(REPLIES[target]).value == expected


def test_every_target_can_read_replies():
    assert set(REPLIES) | {"openai-chat", "anthropic", "gemini"} == set(backends.names())


MALFORMED = [None, 1, "x", [], {"choices": None}, {"choices": [None]}, {"choices": [{"message": {"content": 5}}]},
             {"choices": [{"message": {"content": [1, None]}}]}, {"choices": [{"message": {"tool_calls": [{"function": None}]}}]},
             {"content": [None]}, {"content": [{"type": "tool_use", "input": "x"}]}, {"candidates": [{"content": {"parts": [None]}}]},
             {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": "x"}}]}}]},
             {"output": [None]}, {"output": {"message": {"content": [{"toolUse": None}]}}},
             {"message": {"content": 5}}, {"message": {"tool_calls": [{"function": {"arguments": 5}}]}}]


@pytest.mark.parametrize("target", backends.names())
def test_a_reply_of_the_wrong_shape_is_a_reply_error(pf, target):
    """Whatever a caller passes as a provider's reply, `parse` answers with a Reply or a ReplyError."""
    compiled = pf.compile(target, {"ticket": "t"})
    with pytest.raises(ReplyError, match=f"a {target} reply is a JSON object, got list"):
        compiled.parse([])
    for reply in MALFORMED:
        try:
            compiled.parse(reply)
        except ReplyError:
            pass


# -- strict mode's nulls (issue 11 item 7): dropped at every depth, only where the field may be absent


def _invoice_output():
    from helpers import EXAMPLES

    inputs = json.loads((EXAMPLES / "invoice_extraction.input.json").read_text())
    return polyprompt.load(EXAMPLES / "invoice_extraction.prompt").compile("openai-chat", inputs=inputs)


def test_strict_nulls_are_dropped_at_every_depth_and_through_refs():
    """OpenAI strict mode writes every absent optional field as null: in `line_items/0/tax_rate`,
    in the `$ref`'d `supplier.address`, and the top-level ones."""
    compiled = _invoice_output()
    reply = {"invoice_number": "NW-20931", "issue_date": "2024-11-04", "due_date": None, "currency": "USD",
             "supplier": {"name": "Northwind Traders LLC", "vat_id": None,
                          "address": {"line1": "1200 Harbor Blvd", "line2": None, "city": "Oakland",
                                      "postal_code": None, "country": "US"}},
             "bill_to": None,
             "line_items": [{"description": "beans", "quantity": None, "unit_price": 410.0, "tax_rate": None,
                             "amount": 4920.0}],
             "subtotal": 5026.5, "tax_total": None, "total": 5026.5, "purchase_order": None, "notes": None}
    value = compiled.parse({"choices": [{"finish_reason": "stop", "message": {"content": json.dumps(reply)}}]}).value
    assert value == {"invoice_number": "NW-20931", "issue_date": "2024-11-04", "currency": "USD",
                     "supplier": {"name": "Northwind Traders LLC",
                                  "address": {"line1": "1200 Harbor Blvd", "city": "Oakland", "country": "US"}},
                     "line_items": [{"description": "beans", "unit_price": 410.0, "amount": 4920.0}],
                     "subtotal": 5026.5, "total": 5026.5}


def test_a_null_the_type_allows_stays(tmp_path):
    """`note?: str?` and `score: float?` may be null: their nulls are values; a required field's null
    is an error, not dropped; a null list item is not a field."""
    from polyprompt.compiler.replies import parse_output

    path = tmp_path / "t.prompt"
    path.write_text('type Inner { note?: str?, size?: int }\n'
                    'type Out { score: float?, inner?: Inner, name: str, tags: list[str?] }\n'
                    'prompt p() -> Out {\n  user "x"\n}\n')
    output = polyprompt.load(path).compile("openai-chat").request.output
    reply = {"score": None, "inner": {"note": None, "size": None}, "name": "n", "tags": [None, "a"]}
    assert parse_output(json.dumps(reply), output, tolerant=False) == {
        "score": None, "inner": {"note": None}, "name": "n", "tags": [None, "a"]}
    with pytest.raises(ReplyError, match="name"):
        parse_output(json.dumps({**reply, "name": None}), output, tolerant=False)


def test_strict_nulls_inside_an_optional_of_an_optional_record():
    """The case hypothesis found: `Rec??` whose list field (default []) strict mode sends as null;
    the null is dropped inside the nested `anyOf` too (before, the reply did not validate)."""
    from polyprompt.compiler import ir, schema, types as T
    from polyprompt.compiler.replies import typed_value

    record = T.RecordT("Node")
    record.fields["children"] = T.FieldT("children", T.ListT(record), required=False, default=[], has_default=True)
    for t in (T.OptionalT(T.OptionalT(record)), T.OptionalT(T.OptionalT(T.OptionalT(record)))):
        output = ir.Output(name="p", type=t, schema=schema.json_schema(t))
        assert typed_value({"children": None}, output) == {}
        assert typed_value(None, output) is None


def test_strict_nulls_round_trip_for_any_output_type():
    """For random output types and values: the value as strict mode writes it (every absent field
    null, at every depth) parses back to the value itself."""
    from hypothesis import given, settings, strategies as st

    from polyprompt.compiler import ir, schema
    from polyprompt.compiler.replies import typed_value
    from type_strategies import output_types, strict_reply, value_of

    @settings(max_examples=300, deadline=None)
    @given(output_types(), st.data())
    def check(t, data):
        value = value_of(data, t)
        output = ir.Output(name="p", type=t, schema=schema.json_schema(t))
        assert typed_value(strict_reply(value, t), output) == value

    check()
