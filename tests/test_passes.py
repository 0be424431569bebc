"""Each lowering pass on its own, driven by capability tables and plain data (no backend object:
the structured-output dialects are the data the target modules define)."""
from __future__ import annotations

import attrs

from polyprompt import backends
from polyprompt.compiler import ir
from polyprompt.compiler import types as T
from polyprompt.compiler.diagnostics import Sink
from polyprompt.compiler.targets import AS_IS, Caps, MediaTypes, Refusals
from polyprompt.compiler.passes import PassContext, lower_output_schema, map_settings, normalize_whitespace
from polyprompt.compiler.passes import place_cache_breakpoints, place_system, prune_budget, repair_alternation
from polyprompt.compiler.passes import check_media, choose_model, guard_control_text, shape_tool_turns


def ctx(**caps) -> PassContext:
    table = Caps(**caps)
    dialect = backends.dialect(table.structured_output) if table.structured_output else AS_IS
    return PassContext(name="fake", caps=table, report=Sink(), dialect=dialect)


def msg(role, text, **kw) -> ir.Message:
    return ir.Message(role=role, parts=(ir.Text(text=text),), **kw)


def req(*messages, **kw) -> ir.Request:
    return ir.Request(prompt="p", target="fake", model=None, messages=tuple(messages), **kw)


def shape(r: ir.Request) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in r.messages]


def codes(c: PassContext) -> list[str]:
    return [d.code for d in c.report.items]


def test_normalize_whitespace_trims_and_drops_empty_turns():
    c = ctx()
    out = normalize_whitespace.run(req(msg("user", "\n  hi  \n"), msg("assistant", "  ")), c)
    assert shape(out) == [("user", "hi")] and codes(c) == ["PP409"]


def test_place_system_merge_and_top_level():
    c = ctx(system="merge")
    out = place_system.run(req(msg("system", "S"), msg("user", "U")), c)
    assert shape(out) == [("user", "S\n\nU")] and codes(c) == ["PP400"]
    c = ctx(system="top_level")
    out = place_system.run(req(msg("system", "S"), msg("user", "U"), msg("system", "late")), c)
    assert shape(out) == [("system", "S"), ("user", "U"), ("user", "late")] and codes(c) == ["PP400"]
    c = ctx(system="message")
    assert shape(place_system.run(req(msg("system", "S")), c)) == [("system", "S")] and codes(c) == []


def test_repair_alternation_merges_and_inserts():
    c = ctx(alternation=True, first_user=True)
    out = repair_alternation.run(req(msg("system", "S"), msg("assistant", "A"), msg("user", "u1"), msg("user", "u2")), c)
    assert shape(out) == [("system", "S"), ("user", "(continue)"), ("assistant", "A"), ("user", "u1\n\nu2")]
    assert sorted(codes(c)) == ["PP401", "PP402"]
    c = ctx()
    assert len(repair_alternation.run(req(msg("user", "a"), msg("user", "b")), c).messages) == 2


def test_tool_results_become_user_turns_and_group_quietly():
    results = [ir.Message(role="tool", parts=(ir.ToolResult(id=f"c{i}", name="t", content=(ir.Text(text="r"),)),))
               for i in range(2)]
    call = ir.Message(role="assistant", parts=(ir.ToolCall(id="c0", name="t", arguments={}),
                                               ir.ToolCall(id="c1", name="t", arguments={})))
    c = ctx(alternation=True, tool_results="user_turn")
    r = shape_tool_turns.run(req(msg("user", "q"), call, *results), c)
    r = repair_alternation.run(r, c)
    assert [m.role for m in r.messages] == ["user", "assistant", "user"]
    assert len(r.messages[2].parts) == 2 and codes(c) == []  # results side by side need no note
    c = ctx(tools=False)
    shape_tool_turns.run(req(call), c)
    assert codes(c) == ["PP301"]


def test_prune_budget_lowest_priority_first():
    c = ctx()
    r = req(msg("user", "x" * 400, priority=2), msg("user", "y" * 400, priority=1), msg("user", "keep"), budget=120)
    out = prune_budget.run(r, c)
    assert [m.text[:1] for m in out.messages] == ["x", "k"] and codes(c) == ["PP408"]


def test_map_settings_drop_clamp_fill():
    c = ctx(settings={"temperature": "temperature", "stop": "stop"}, temperature_max=1.0, max_stop=1,
            default_max_tokens=None)
    r = req(settings={"temperature": ir.Setting(value=1.7), "stop": ir.Setting(value=["a", "b"]),
                      "top_k": ir.Setting(value=3)})
    out = map_settings.run(r, c)
    assert {k: v.value for k, v in out.settings.items()} == {"temperature": 1.0, "stop": ["a"]}
    assert sorted(codes(c)) == ["PP403", "PP404", "PP404"]


def test_cache_breakpoints_kept_up_to_the_limit():
    marked = [msg("user", f"u{i}", cache="default") for i in range(5)]
    c = ctx(cache="blocks", max_cache_breakpoints=4)
    out = place_cache_breakpoints.run(req(*marked), c)
    assert [m.cache for m in out.messages] == [None, "default", "default", "default", "default"]
    c = ctx(cache="automatic")
    out = place_cache_breakpoints.run(req(*marked), c)
    assert all(m.cache is None for m in out.messages) and codes(c) == ["PP407"] * 5


def output(schema: dict) -> ir.Output:
    return ir.Output(name="o", type=T.JSON, schema=schema)


RECORD = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"$ref": "#/$defs/B", "default": {}}},
          "required": ["a"], "additionalProperties": False,
          "$defs": {"B": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": [],
                          "additionalProperties": False}}}


def test_strict_schema_makes_optional_fields_nullable():
    c = ctx(structured_output="openai_strict")
    out = lower_output_schema.run(req(output=output(RECORD)), c).output
    assert out.schema["required"] == ["a", "b"]
    assert out.schema["properties"]["b"] == {"anyOf": [{"$ref": "#/$defs/B"}, {"type": "null"}]}
    assert out.schema["$defs"]["B"]["required"] == ["x"]
    assert out.original == RECORD and set(codes(c)) == {"PP405"}


def test_gemini_schema_inlines_refs_and_keeps_recursion():
    c = ctx(structured_output="gemini")
    out = lower_output_schema.run(req(output=output(RECORD)), c).output.schema
    assert out["properties"]["b"] == {"type": "object", "properties": {"x": {"type": "integer"}}, "required": [],
                                      "additionalProperties": False}
    recursive = {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/N"}}},
                 "$defs": {"N": {"type": "object", "properties": {"kids": {"type": "array",
                                                                           "items": {"$ref": "#/$defs/N"}}}}}}
    out = lower_output_schema.run(req(output=output(recursive)), ctx(structured_output="gemini")).output.schema
    assert out["$defs"]["N"]["properties"]["kids"]["items"] == {"$ref": "#/$defs/N"}


def test_schema_as_instructions_comes_from_the_stdlib():
    record = T.RecordT("Answer")
    record.fields["city"] = T.FieldT("city", T.STR, True)
    from polyprompt.compiler.schema import json_schema
    from polyprompt.compiler.stdlib_text import output_instructions

    c = ctx(structured_output=None)
    r = req(msg("system", "Be brief."), msg("user", "Where?"),
            output=ir.Output(name="a", type=record, schema=json_schema(record),
                             instructions=output_instructions(record)))
    out = lower_output_schema.run(r, c)
    system = out.messages[0].text
    assert system == "Be brief.\n\nAnswer in JSON matching this type (`?` marks a field you may leave out):\n{\n  city: string,\n}"
    assert codes(c) == ["PP406"]
    assert attrs.evolve(out, messages=()).output == r.output


def test_place_system_joins_leading_system_turns_for_one_system_turn():
    c = ctx(system="top_level", one_system_turn=True)
    out = place_system.run(req(msg("system", "A"), msg("system", "B"), msg("user", "U"), msg("system", "late")), c)
    assert shape(out) == [("system", "A\n\nB"), ("user", "U"), ("user", "late")]
    assert codes(c) == ["PP400", "PP400"]
    c = ctx(system="top_level")  # without it, the emitter fills its system field from both
    assert len(place_system.run(req(msg("system", "A"), msg("system", "B")), c).messages) == 2


def _tool_turns(call_id: str) -> tuple[ir.Message, ...]:
    call = ir.ToolCall(id=call_id, name="f", arguments={})
    result = ir.ToolResult(id=call_id, name="f", content=(ir.Text(text="r"),))
    return (msg("user", "q"), ir.Message(role="assistant", parts=(call,)), ir.Message(role="tool", parts=(result,)),
            msg("user", "next"))


def test_answer_after_tool_results_inserts_an_assistant_turn():
    c = ctx(answer_after_tool_results=True)
    out = repair_alternation.run(req(*_tool_turns("abcdefghi")), c)
    assert [m.role for m in out.messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert codes(c) == ["PP402"]
    c = ctx()
    assert len(repair_alternation.run(req(*_tool_turns("abcdefghi")), c).messages) == 4 and codes(c) == []


def test_nine_character_tool_call_ids():
    c = ctx(tool_call_ids="nine_alnum")
    out = shape_tool_turns.run(req(*_tool_turns("call_1")), c)
    ids = {p.id for m in out.messages for p in m.parts if isinstance(p, (ir.ToolCall, ir.ToolResult))}
    assert len(ids) == 1 and shape_tool_turns.NINE_ALNUM.match(ids.pop()) and codes(c) == ["PP410"]
    c = ctx(tool_call_ids="nine_alnum")
    out = shape_tool_turns.run(req(*_tool_turns("Ab3dE6gH9")), c)
    assert out.messages[1].parts[0].id == "Ab3dE6gH9" and codes(c) == []


def _with(c: PassContext, **kw) -> PassContext:
    return attrs.evolve(c, **kw)


def test_check_media_reads_the_refusals():
    image = ir.Media(kind="image", data="AAAA", media_type="image/tiff")
    pdf = ir.Media(kind="file", data="AAAA", media_type="application/pdf")
    r = req(ir.Message(role="user", parts=(image, pdf)))
    c = _with(ctx(media=frozenset({"image", "file"})), refusals=Refusals(
        media_types={"image": MediaTypes(accepted=frozenset({"image/png"}), noun="images")},
        url_only={"file": ("documents", "upload it first")}))
    check_media.run(r, c)
    assert [(d.code, d.message) for d in c.report.items] == [
        ("PP302", "fake cannot take `image/tiff` images"), ("PP302", "fake needs documents by URL, not inline data")]
    c = _with(ctx(media=frozenset()), refusals=Refusals(media={"image": "its template renders no images"}))
    check_media.run(req(ir.Message(role="user", parts=(image,))), c)
    assert c.report.items[0].message == "fake cannot take image input: its template renders no images"


def test_choose_model_fills_the_default_and_refuses_another_providers_model():
    c = _with(ctx(), default_model="mine-1", kind="fake",
              refusals=Refusals(model=lambda m: "other" if m.startswith("other-") else None))
    assert choose_model.run(req(), c).model == "mine-1" and codes(c) == []
    assert choose_model.run(attrs.evolve(req(), model="mine-2"), c).model == "mine-2" and codes(c) == []
    assert choose_model.run(attrs.evolve(req(), model="other-1"), c).model == "mine-1" and codes(c) == ["PP404"]


def test_guard_control_text_notes_control_tokens_and_the_targets_notes():
    c = _with(ctx(), refusals=Refusals(control_text=lambda text: ["<|end|>"] * text.count("<|end|>")),
              target_notes=(("PP400", "fake: a quirk", None),))
    guard_control_text.run(req(msg("user", "plain")), c)
    assert codes(c) == ["PP400"]
    guard_control_text.run(req(msg("user", "a <|end|> b")), c)
    assert codes(c) == ["PP400", "PP400", "PP411"]
