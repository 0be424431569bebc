"""openai-responses: bodies valid against OpenAI's `CreateResponse`, and the edges of
its capability table: `instructions`, input items (messages, function_call,
function_call_output), flattened tools and `text.format`, `max_output_tokens`."""
from __future__ import annotations

import json

import pytest

import polyprompt

import schemas
from helpers import compile_source

TARGET = "openai-responses"


errors = schemas.response_errors


def test_the_validator_rejects_bad_bodies():
    assert errors({"model": "m", "input": [{"role": "robot", "content": "x"}]})
    assert errors({"model": "m", "input": "x", "max_output_tokens": 15})
    # tools as Chat Completions writes them (nested `function`, no `strict`)
    chat_tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert errors({"model": "m", "input": "x", "tools": [chat_tool]})
    assert errors({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f"}]})  # no arguments
    assert errors({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "json_schema": {}}}})
    # the ambiguity filter lets through only valid messages
    assert errors({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]})


def compile_text(tmp_path, text: str, target: str = TARGET, **inputs):
    return compile_source(tmp_path, text, target, **inputs)


TOOL_PROMPT = '''
tool lookup(order_id: str) -> str "Look up an order."
type Out { status: str, note?: str }
prompt p(q: str, history: messages = []) -> Out {
  tools lookup
  history
  user "{{ q }}"
  tool_call lookup(order_id = "A1") id "call_a"
  tool_call lookup(order_id = "B2") id "call_b"
  tool_result lookup id "call_a" "shipped"
  tool_result lookup id "call_b" "lost"
}
'''

HISTORY = [
    {"role": "user", "content": "Where is C3?"},
    {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"id": "call_h", "type": "function", "function": {"name": "lookup", "arguments": "{\"order_id\": \"C3\"}"}}]},
    {"role": "tool", "tool_call_id": "call_h", "content": "delivered"},
    {"role": "assistant", "content": "C3 was delivered."},
]


def test_tool_turns_round_trip_with_ids(tmp_path):
    r = compile_text(tmp_path, TOOL_PROMPT, q="And A1 and B2?", history=HISTORY)
    items = r.body["input"]
    shape = [(i.get("type") or "message", i.get("role")) for i in items]
    assert shape == [("message", "user"), ("message", "assistant"), ("function_call", None),
                     ("function_call_output", None), ("message", "assistant"), ("message", "user"),
                     ("function_call", None), ("function_call", None),
                     ("function_call_output", None), ("function_call_output", None)]
    assert items[1] == {"role": "assistant", "content": "Let me check."}  # replayed text before its call
    assert items[2] == {"type": "function_call", "call_id": "call_h", "name": "lookup",
                        "arguments": "{\"order_id\":\"C3\"}"}
    assert items[3] == {"type": "function_call_output", "call_id": "call_h", "output": "delivered"}
    calls, outputs = items[6:8], items[8:]
    assert [c["call_id"] for c in calls] == ["call_a", "call_b"] == [o["call_id"] for o in outputs]
    assert [json.loads(c["arguments"]) for c in calls] == [{"order_id": "A1"}, {"order_id": "B2"}]
    assert [o["output"] for o in outputs] == ["shipped", "lost"]
    assert r.body["tools"] == [{"type": "function", "name": "lookup", "description": "Look up an order.",
                                "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                                               "required": ["order_id"], "additionalProperties": False},
                                "strict": False}]
    assert errors(r.body) == []

    # the reply's calls come back with the ids the next request pairs results with
    reply = {"status": "completed", "output": [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "id": "fc_1", "call_id": "call_x", "name": "lookup", "arguments": "{\"order_id\":\"D4\"}"}]}
    parsed = polyprompt.parse(TARGET, reply)
    assert [(c.id, c.name, c.arguments) for c in parsed.tool_calls] == [("call_x", "lookup", {"order_id": "D4"})]
    assert parsed.finish_reason == "completed"


def test_tool_results_with_images_are_content_parts(tmp_path):
    r = compile_text(tmp_path, '''
tool snapshot(cam: str) "A camera still."
prompt p(still: image) {
  tools snapshot
  user "What does cam 1 show?"
  tool_call snapshot(cam = "1") id "c1"
  tool_result snapshot id "c1" { "cam 1:" image(still) }
}
''', still="data:image/png;base64,iVBORw0KGgo=")
    out = r.body["input"][-1]
    assert out == {"type": "function_call_output", "call_id": "c1", "output": [
        {"type": "input_text", "text": "cam 1:"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}]}
    assert errors(r.body) == []


SYSTEM_PROMPT = '''
prompt p() {
  system "You are terse."
  system "Answer in French."
  user "Hi"
  system "The user is an admin."
  assistant "Bonjour"
  user "Bye"
}
'''


def test_system_placement(tmp_path):
    r = compile_text(tmp_path, SYSTEM_PROMPT)
    assert r.body["instructions"] == "You are terse.\n\nAnswer in French."
    assert r.body["input"] == [{"role": "user", "content": "Hi"},
                               {"role": "system", "content": "The user is an admin."},  # stays in place
                               {"role": "assistant", "content": "Bonjour"},
                               {"role": "user", "content": "Bye"}]
    assert r.report == ()
    assert errors(r.body) == []


def test_caps_override_developer_messages(tmp_path):
    r = compile_text(tmp_path, 'target dev "openai-responses" { caps { system: "developer" } }\n' + SYSTEM_PROMPT,
                     target="dev")
    assert "instructions" not in r.body
    assert [(i["role"], i["content"]) for i in r.body["input"]][:2] == [
        ("developer", "You are terse."), ("developer", "Answer in French.")]
    assert r.body["input"][3] == {"role": "developer", "content": "The user is an admin."}
    assert errors(r.body) == []


def test_settings_renamed_dropped_and_clamped(tmp_path):
    r = compile_text(tmp_path, '''
prompt p() {
  model "gpt-5-mini" { max_tokens: 8, temperature: 0.5, top_p: 0.9, reasoning: "low", top_k: 5, seed: 1,
                       stop: ["x"], presence_penalty: 0.1, frequency_penalty: 0.1, reasoning_tokens: 100 }
  user "hi"
}
''')
    b = r.body
    assert b["max_output_tokens"] == 16 and "max_tokens" not in b
    assert b["reasoning"] == {"effort": "low"}
    assert b["temperature"] == 0.5 and b["top_p"] == 0.9
    for gone in ("top_k", "seed", "stop", "presence_penalty", "frequency_penalty", "thinking", "reasoning_tokens"):
        assert gone not in b
    notes = [(d.code, d.message) for d in r.report]
    assert sorted(c for c, _ in notes) == ["PP403"] * 6 + ["PP404"]
    assert ("PP404", "`max_tokens` 8 raised to 16: openai-responses takes no lower `max_output_tokens`") in notes
    assert errors(b) == []
    assert r.request.settings["max_tokens"].value == 16  # the lowered IR holds what is sent (a pass raised it)


def test_structured_output_shape(tmp_path):
    r = compile_text(tmp_path, 'type Out { status: str, note?: str }\nprompt p() -> Out {\n  user "hi"\n}\n')
    fmt = r.body["text"]["format"]
    assert set(fmt) == {"type", "name", "schema", "strict"} and fmt["type"] == "json_schema"
    assert fmt["name"] == "p" and fmt["strict"] is True
    assert fmt["schema"]["required"] == ["status", "note"] and fmt["schema"]["additionalProperties"] is False
    assert fmt["schema"]["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert "response_format" not in r.body
    assert [d.code for d in r.report] == ["PP405"]
    assert errors(r.body) == []
    # the strict null of an absent optional field is dropped when the reply is read
    reply = {"status": "completed", "output": [{"type": "message", "role": "assistant", "id": "m", "status": "completed",
                                                "content": [{"type": "output_text", "text": '{"status": "ok", "note": null}',
                                                             "annotations": []}]}]}
    assert r.parse(reply).value == {"status": "ok"}


def test_no_structured_output_puts_the_schema_in_instructions(tmp_path):
    r = compile_text(tmp_path, '''
target plain "openai-responses" { caps { structured_output: null } }
type Out { status: str }
prompt p() -> Out {
  system "Be brief."
  user "hi"
}
''', target="plain")
    assert "text" not in r.body
    assert r.body["instructions"].startswith("Be brief.\n\n") and 'status: string' in r.body["instructions"]
    assert [d.code for d in r.report] == ["PP406"]
    reply = {"status": "completed", "output": [{"type": "message", "content": [
        {"type": "output_text", "text": 'Sure:\n```json\n{"status": "ok"}\n```'}]}]}
    assert r.parse(reply).value == {"status": "ok"}  # fallback mode looks for the JSON in the text


def test_media_parts(tmp_path):
    r = compile_text(tmp_path, '''
prompt p(photo: image, scan: file, doc: file) {
  user { "Compare:" image(photo) file(scan) file(doc) }
}
''', photo="https://example.com/a.jpg", scan="data:application/pdf;base64,JVBERi0=", doc="https://example.com/b.pdf")
    assert r.body["input"][0]["content"] == [
        {"type": "input_text", "text": "Compare:"},
        {"type": "input_image", "image_url": "https://example.com/a.jpg", "detail": "auto"},
        {"type": "input_file", "filename": "file.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
        {"type": "input_file", "file_url": "https://example.com/b.pdf"}]
    assert errors(r.body) == []
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, 'prompt p(clip: audio) {\n  user { audio(clip) }\n}\n', clip="data:audio/wav;base64,UklGRg==")
    assert [d.code for d in err.value.diagnostics] == ["PP302"]


def test_store_is_left_to_the_api_unless_a_target_sets_it(tmp_path):
    prompt = 'prompt p() {\n  user "hi"\n}\n'
    assert "store" not in compile_text(tmp_path, prompt).body
    r = compile_text(tmp_path, 'target private "openai-responses" { store: false }\n' + prompt, target="private")
    assert r.body["store"] is False
    assert errors(r.body) == []


def test_cache_marks_are_dropped(tmp_path):
    r = compile_text(tmp_path, 'prompt p() {\n  system "Long rules."\n  cache\n  user "hi"\n}\n')
    assert [d.code for d in r.report] == ["PP407"]
    assert "prompt_cache_breakpoint" not in json.dumps(r.body)


def test_incomplete_reply_reason():
    reply = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
             "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hel"}]}]}
    parsed = polyprompt.parse(TARGET, reply)
    assert (parsed.text, parsed.finish_reason) == ("Hel", "max_output_tokens")


def test_enum_output_is_wrapped_and_unwrapped(tmp_path):
    r = compile_text(tmp_path, 'enum Verdict { ok, bad }\nprompt p() -> Verdict {\n  user "hi"\n}\n')
    schema = r.body["text"]["format"]["schema"]
    assert schema["type"] == "object" and schema["required"] == ["value"]
    reply = {"status": "completed", "output": [{"type": "message", "content": [
        {"type": "output_text", "text": '{"value": "bad"}'}]}]}
    assert r.parse(reply).value == "bad"


def test_a_strict_tool_is_sent_strict(tmp_path):
    # issue 11 item 6: `strict tool` -> FunctionTool.strict true (false for the others), parameters in strict form
    r = compile_text(tmp_path, '''
strict tool lookup(order_id: str, verbose?: bool) -> str "Look up an order."
tool plain(x: int)

prompt p() {
  tools lookup, plain
  user "Where is A1?"
}
''')
    strict, plain = r.body["tools"]
    assert strict["strict"] is True and plain["strict"] is False
    assert strict["parameters"]["required"] == ["order_id", "verbose"]
    assert errors(r.body) == []
