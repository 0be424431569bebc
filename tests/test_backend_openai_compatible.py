"""openai-compatible: Chat Completions bodies for vLLM, the llama.cpp server and the
like, valid against OpenAI's `CreateChatCompletionRequest`; its conservative caps,
and caps overridden by a `target` declaration, end to end."""
from __future__ import annotations

import json

import pytest

import polyprompt

import schemas
from helpers import compile_source
from test_golden import EXAMPLE_FILES, compile_example

TARGET = "openai-compatible"


def errors(body: dict) -> list[str]:
    return schemas.errors("openai", "CreateChatCompletionRequest", body)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_example_body_names_the_server_model(path):  # valid against the schema: tests/test_backends.py
    try:
        body = compile_example(path, TARGET).body
    except polyprompt.CompileError as err:  # audio is off by default
        assert {d.code for d in err.diagnostics} == {"PP302"}
        return
    assert body["model"] == "local-model"  # every example names a hosted model (PP404)


def test_the_validator_rejects_bad_bodies():
    assert errors({"model": "m"})  # no messages
    assert errors({"model": "m", "messages": [{"role": "robot", "content": "x"}]})
    assert errors({"model": "m", "messages": [{"role": "tool", "content": "x"}]})  # no tool_call_id
    assert errors({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": list("abcde")})


def compile_text(tmp_path, text: str, target: str = TARGET, **inputs):
    return compile_source(tmp_path, text, target, **inputs)


def test_settings_top_k_kept_max_tokens_named_reasoning_dropped(tmp_path):
    r = compile_text(tmp_path, '''
prompt p() {
  model "qwen2.5-7b-instruct" { max_tokens: 50, top_k: 40, top_p: 0.9, temperature: 0.7, seed: 3,
                                presence_penalty: 0.5, reasoning: "low", reasoning_tokens: 100,
                                stop: ["a", "b", "c", "d", "e"] }
  user "hi"
}
''')
    b = r.body
    assert b["model"] == "qwen2.5-7b-instruct"  # a model no hosted provider names is kept
    assert b["max_tokens"] == 50 and "max_completion_tokens" not in b
    assert (b["top_k"], b["top_p"], b["temperature"], b["seed"], b["presence_penalty"]) == (40, 0.9, 0.7, 3, 0.5)
    assert b["stop"] == ["a", "b", "c", "d"]
    assert "reasoning_effort" not in b and "reasoning" not in b
    assert sorted(d.code for d in r.report) == ["PP403", "PP403", "PP404"]
    assert errors(b) == []


def test_structured_output_keeps_the_schema_and_sends_no_strict(tmp_path):
    r = compile_text(tmp_path, 'type Out { status: str, note?: str }\nprompt p() -> Out {\n  user "hi"\n}\n')
    fmt = r.body["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "p", "schema": {
        "type": "object", "properties": {"status": {"type": "string"}, "note": {"type": "string"}},
        "required": ["status"], "additionalProperties": False}}}
    assert r.report == ()  # nothing lowered: the server constrains decoding to the schema as it is
    assert errors(r.body) == []
    reply = {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": '{"status": "ok"}'}}]}
    assert r.parse(reply).value == {"status": "ok"}


def test_caps_override_strict_structured_output(tmp_path):
    r = compile_text(tmp_path, '''
target strict "openai-compatible" { caps { structured_output: "openai_strict" } }
type Out { status: str, note?: str }
prompt p() -> Out {
  user "hi"
}
''', target="strict")
    schema = r.body["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["required"] == ["status", "note"]
    assert [d.code for d in r.report] == ["PP405"]


LOCAL = '''
target local "openai-compatible" {
  model "llama3"
  caps { %s }
  base_url: "http://localhost:8000/v1"
}
'''


def test_caps_override_tools_false_is_pp301(tmp_path):
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, LOCAL % "tools: false" + '''
tool lookup(order_id: str) "Look up an order."
prompt p() {
  tools lookup
  user "Where is A1?"
}
''', target="local")
    [diag] = err.value.diagnostics
    assert diag.code == "PP301" and "local has no tool calling" in diag.message
    # the same prompt without the override compiles, with the tool
    r = compile_text(tmp_path, LOCAL % "" + 'tool lookup(order_id: str) "L."\nprompt p() {\n  tools lookup\n  user "x"\n}\n',
                     target="local")
    assert r.body["tools"][0]["function"]["name"] == "lookup"


def test_caps_override_no_structured_output_is_pp406(tmp_path):
    r = compile_text(tmp_path, LOCAL % "structured_output: null" + '''
type Out { status: str }
prompt p() -> Out {
  model "gpt-4o"
  system "Be brief."
  user "hi"
}
''', target="local")
    b = r.body
    assert "response_format" not in b
    assert b["messages"][0]["role"] == "system"
    assert b["messages"][0]["content"].startswith("Be brief.\n\n") and 'status: string' in b["messages"][0]["content"]
    assert b["model"] == "llama3"  # the declared model replaces the hosted one
    assert "base_url" not in b  # an option for the client, not the body
    assert sorted(d.code for d in r.report) == ["PP404", "PP406"]
    assert errors(b) == []
    reply = {"choices": [{"finish_reason": "stop", "message": {"content": 'Here: {"status": "ok"} done'}}]}
    assert r.parse(reply).value == {"status": "ok"}  # fallback mode finds the JSON in the text


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


def test_one_leading_system_message(tmp_path):
    r = compile_text(tmp_path, SYSTEM_PROMPT)
    assert r.body["messages"] == [{"role": "system", "content": "You are terse.\n\nAnswer in French."},
                                  {"role": "user", "content": "Hi"},
                                  {"role": "user", "content": "The user is an admin."},
                                  {"role": "assistant", "content": "Bonjour"},
                                  {"role": "user", "content": "Bye"}]
    assert [d.code for d in r.report] == ["PP400"]
    # `system: "message"` sends system turns as they are
    r = compile_text(tmp_path, LOCAL % 'system: "message"' + SYSTEM_PROMPT, target="local")
    assert [m["role"] for m in r.body["messages"]] == ["system", "system", "user", "system", "assistant", "user"]
    assert r.report == ()


TOOL_PROMPT = '''
tool lookup(order_id: str) -> str "Look up an order."
prompt p() {
  tools lookup
  user "Where are A1 and B2?"
  tool_call lookup(order_id = "A1") id "call_a"
  tool_call lookup(order_id = "B2") id "call_b"
  tool_result lookup id "call_a" "shipped"
  tool_result lookup id "call_b" "lost"
}
'''


def test_tool_turns_round_trip_with_ids(tmp_path):
    r = compile_text(tmp_path, TOOL_PROMPT)
    msgs = r.body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in msgs[1]["tool_calls"]] == ["call_a", "call_b"]
    assert [json.loads(c["function"]["arguments"]) for c in msgs[1]["tool_calls"]] == [{"order_id": "A1"},
                                                                                      {"order_id": "B2"}]
    assert [(m["tool_call_id"], m["content"]) for m in msgs[2:]] == [("call_a", "shipped"), ("call_b", "lost")]
    assert errors(r.body) == []
    reply = {"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "chatcmpl-tool-1", "type": "function", "function": {"name": "lookup", "arguments": '{"order_id": "C3"}'}}]}}]}
    parsed = polyprompt.parse(TARGET, reply)
    assert [(c.id, c.arguments) for c in parsed.tool_calls] == [("chatcmpl-tool-1", {"order_id": "C3"})]


def test_strict_template_caps_keep_one_tool_message_per_result(tmp_path):
    # Mistral/Gemma templates: alternation and a first user turn; the run of results is merged
    # into one tool turn by the pass, and written back as one message per result
    r = compile_text(tmp_path, LOCAL % "alternation: true, first_user: true" + TOOL_PROMPT, target="local")
    msgs = r.body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in msgs[2:]] == ["call_a", "call_b"]
    assert errors(r.body) == []


def test_media_images_only(tmp_path):
    r = compile_text(tmp_path, 'prompt p(photo: image) {\n  user { "What is this?" image(photo) }\n}\n',
                     photo="https://example.com/cat.jpg")
    assert r.body["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    for kind, value in [("audio", "data:audio/wav;base64,UklGRg=="), ("file", "data:application/pdf;base64,JVBERi0=")]:
        with pytest.raises(polyprompt.CompileError) as err:
            compile_text(tmp_path, f'prompt p(x: {kind}) {{\n  user {{ {kind}(x) }}\n}}\n', x=value)
        assert [d.code for d in err.value.diagnostics] == ["PP302"]


def test_cache_marks_are_dropped(tmp_path):
    r = compile_text(tmp_path, 'prompt p() {\n  system "Long rules."\n  cache\n  user "hi"\n}\n')
    assert [d.code for d in r.report] == ["PP407"]
    assert "caches long prefixes by itself" in r.report[0].message


def test_enum_output_needs_no_wrapping(tmp_path):
    r = compile_text(tmp_path, 'enum Verdict { ok, bad }\nprompt p() -> Verdict {\n  user "hi"\n}\n')
    assert r.body["response_format"]["json_schema"]["schema"] == {"type": "string", "enum": ["ok", "bad"]}
    reply = {"choices": [{"finish_reason": "stop", "message": {"content": '"bad"'}}]}
    assert r.parse(reply).value == "bad"
