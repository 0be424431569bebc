"""mistral: bodies valid against Mistral's `ChatCompletionRequest` (additionalProperties false),
and the edges of its capability table: `random_seed`, no `top_k`, temperature at most 1.5,
9-character tool call ids, an assistant turn after tool results, `prefix` for a prefill,
`image_url` / `input_audio` / `document_url` chunks, the output schema sent as it is."""
from __future__ import annotations

import json
import re

import pytest

import polyprompt
from polyprompt.compiler.passes.shape_tool_turns import NINE_ALNUM as TOOL_CALL_ID
from polyprompt.compiler.passes.shape_tool_turns import nine_character_id as tool_call_id

import schemas
from helpers import compile_source

TARGET = "mistral"
PNG = "data:image/png;base64,iVBORw0KGgo="


def errors(body: dict) -> list[str]:
    return schemas.errors("mistral", "ChatCompletionRequest", body)


def test_the_validator_rejects_bad_bodies():
    ok = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert errors(ok) == []
    assert errors({**ok, "seed": 1})  # additionalProperties false: `random_seed` only
    assert errors({**ok, "top_k": 5})
    no_parameters = {"type": "function", "function": {"name": "f"}}  # `parameters` is required
    assert errors({**ok, "tools": [no_parameters]})
    assert errors({**ok, "temperature": 1.8})  # at most 1.5
    assert errors({"model": "m", "messages": [{"role": "robot", "content": "x"}]})


def compile_text(tmp_path, text: str, **inputs):
    return compile_source(tmp_path, text, TARGET, **inputs)


TOOL_PROMPT = '''
tool lookup(order_id: str) -> str "Look up an order."
prompt p(q: str) {
  system "Be brief."
  tools lookup
  user "{{ q }}"
  tool_call lookup(order_id = "A1") id "call_A1"
  tool_call lookup(order_id = "B2") id "abcDEF123"
  tool_result lookup id "call_A1" "shipped"
  tool_result lookup id "abcDEF123" "lost"
  user "And the third one?"
}
'''


def test_tool_round_trip(tmp_path):
    r = compile_text(tmp_path, TOOL_PROMPT, q="where?")
    msgs = r.body["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool", "assistant", "user"]
    calls = msgs[2]["tool_calls"]
    assert [c["type"] for c in calls] == ["function", "function"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"order_id": "A1"}, {"order_id": "B2"}]
    assert all(TOOL_CALL_ID.match(c["id"]) for c in calls)
    assert calls[1]["id"] == "abcDEF123"  # already a Mistral id: kept
    assert calls[0]["id"] == tool_call_id("call_A1") != "call_A1"
    assert [m["tool_call_id"] for m in msgs[3:5]] == [c["id"] for c in calls]  # results pair with their calls
    assert [m["name"] for m in msgs[3:5]] == ["lookup", "lookup"]
    assert msgs[3]["content"] == "shipped"
    assert msgs[5] == {"role": "assistant", "content": "(continue)"}  # a user turn may not follow a result
    assert r.body["tools"] == [{"type": "function", "function": {
        "name": "lookup", "description": "Look up an order.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"],
                       "additionalProperties": False}}}]
    assert sorted(d.code for d in r.report) == ["PP402", "PP410"]  # the bridge turn; the id `call_A1` rewritten
    assert any("call_A1" in d.message for d in r.report if d.code == "PP410")
    assert errors(r.body) == []
    # the inserted turn is part of the lowered request too
    assert [m.role for m in r.request.messages][-2:] == ["assistant", "user"]


def test_results_then_assistant_need_no_bridge(tmp_path):
    r = compile_text(tmp_path, '''
tool lookup(order_id: str) -> str "Look up an order."
prompt p() {
  tools lookup
  user "where is A1?"
  tool_call lookup(order_id = "A1") id "aaaaaaaaa"
  tool_result lookup id "aaaaaaaaa" "shipped"
}
''')
    assert [m["role"] for m in r.body["messages"]] == ["user", "assistant", "tool"]  # ends on a result: fine
    assert r.report == ()
    assert errors(r.body) == []


def test_tool_call_ids_are_stable_and_valid():
    for original in ("call_1", "prefetch_orders", "x", "", "toolu_01A09q90qw90lq917835lq9"):
        new = tool_call_id(original)
        assert re.fullmatch(r"[a-zA-Z0-9]{9}", new) and new == tool_call_id(original)
    assert tool_call_id("call_1") != tool_call_id("call_2")
    assert tool_call_id("Ab3dE6gH9") == "Ab3dE6gH9"


def test_settings_are_renamed_dropped_and_clamped(tmp_path):
    r = compile_text(tmp_path, '''
prompt p() {
  model "mistral-small-latest" { max_tokens: 50, top_k: 5, seed: 1, temperature: 1.8, stop: ["a", "b", "c", "d", "e"], reasoning: "high" }
  user "hi"
}
''')
    b = r.body
    assert b["model"] == "mistral-small-latest"
    assert b["random_seed"] == 1 and "seed" not in b
    assert b["max_tokens"] == 50 and "max_completion_tokens" not in b
    assert "top_k" not in b
    assert b["temperature"] == 1.5
    assert b["stop"] == ["a", "b", "c", "d", "e"]  # no count limit
    assert b["reasoning_effort"] == "high"
    assert sorted(d.code for d in r.report) == ["PP403", "PP404"]  # top_k dropped; temperature lowered
    assert errors(b) == []


def test_a_model_for_another_provider_is_replaced(tmp_path):
    r = compile_text(tmp_path, 'prompt p() {\n  model "gpt-4o"\n  user "hi"\n}\n')
    assert r.body["model"] == "mistral-large-latest"
    assert [d.code for d in r.report] == ["PP404"]


def test_media_chunks(tmp_path):
    r = compile_text(tmp_path, '''
prompt p(photo: image, clip: audio, doc: file) {
  user { "What is this?" image(photo) image("https://example.com/a.jpg") audio(clip) file(doc) }
}
''', photo=PNG, clip="data:audio/wav;base64,UklGRg==", doc="https://example.com/report.pdf")
    content = r.body["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": PNG},
        {"type": "image_url", "image_url": "https://example.com/a.jpg"},
        {"type": "input_audio", "input_audio": "UklGRg=="},
        {"type": "document_url", "document_url": "https://example.com/report.pdf"},
    ]
    assert errors(r.body) == []


@pytest.mark.parametrize("part, value", [("audio(clip)", "https://example.com/a.wav"),
                                         ("file(clip)", "data:application/pdf;base64,JVBERi0=")])
def test_media_mistral_cannot_take(tmp_path, part, value):
    kind = part.split("(")[0]
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, f'prompt p(clip: {kind}) {{\n  user {{ {part} }}\n}}\n', clip=value)
    assert [d.code for d in err.value.diagnostics] == ["PP302"]


def test_structured_output_goes_as_is(tmp_path):
    r = compile_text(tmp_path, '''
type Out { status: str, note?: str }
prompt p() -> Out {
  user "status?"
}
''')
    fmt = r.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "p" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["required"] == ["status"]  # optional stays optional (no OpenAI strict rewrite)
    assert schema["properties"]["note"] == {"type": "string"}
    assert schema["additionalProperties"] is False
    assert r.report == ()  # nothing lowered
    assert errors(r.body) == []


def test_a_final_assistant_turn_is_a_prefix(tmp_path):
    r = compile_text(tmp_path, 'prompt p() {\n  user "Name a colour."\n  assistant "The colour is"\n}\n')
    assert r.body["messages"][-1] == {"role": "assistant", "content": "The colour is", "prefix": True}
    assert errors(r.body) == []
    r = compile_text(tmp_path, 'prompt p() {\n  assistant "Hello!"\n  user "Hi"\n}\n')
    assert "prefix" not in r.body["messages"][0]
