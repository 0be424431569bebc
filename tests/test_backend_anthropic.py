"""anthropic: bodies valid against `CreateMessageParams`, and its capability edges:
top-level system, strict alternation starting with user, tool results in user turns,
cache_control markers (at most 4), temperature at most 1, max_tokens required."""
from __future__ import annotations

import schemas
from helpers import compile_source

TARGET = "anthropic"


def test_the_validator_rejects_openai_shapes():
    openai_tool = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                   "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}
    assert schemas.errors("anthropic", "CreateMessageParams", openai_tool)
    assert schemas.errors("anthropic", "CreateMessageParams", {"model": "m", "messages": []})  # max_tokens


def compile_text(tmp_path, text: str, **inputs):
    return compile_source(tmp_path, text, TARGET, **inputs)


def test_system_alternation_and_tool_results(tmp_path):
    r = compile_text(tmp_path, '''
tool lookup(order_id: str) "Look up an order."
prompt p() {
  system "Be brief."
  cache
  tools lookup
  assistant "Hello!"
  user "Where is A1?"
  user "Please hurry."
  tool_call lookup(order_id = "A1")
  tool_result lookup "shipped"
  user "Thanks"
}
''')
    b = r.body
    assert b["system"] == [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    assert [m["role"] for m in b["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    assert b["messages"][0]["content"] == [{"type": "text", "text": "(continue)"}]
    assert b["messages"][2]["content"] == [{"type": "text", "text": "Where is A1?\n\nPlease hurry."}]
    result_turn = b["messages"][4]["content"]
    assert result_turn[0]["type"] == "tool_result" and result_turn[0]["tool_use_id"] == b["messages"][3]["content"][0]["id"]
    assert result_turn[1] == {"type": "text", "text": "Thanks"}
    assert b["max_tokens"] == 1024
    assert sorted(d.code for d in r.report) == ["PP401", "PP401", "PP402", "PP404"]
    assert schemas.errors("anthropic", "CreateMessageParams", b) == []


def test_cache_limit_and_temperature(tmp_path):
    body = "\n".join(f'  user "u{i}"\n  assistant "a{i}"\n  cache' for i in range(5))
    r = compile_text(tmp_path, f'prompt p() {{\n  model {{ temperature: 1.5, max_tokens: 10 }}\n{body}\n  user "end"\n}}\n')
    marks = [b for m in r.body["messages"] for b in m["content"] if "cache_control" in b]
    assert len(marks) == 4
    assert r.body["temperature"] == 1.0
    assert sorted(d.code for d in r.report) == ["PP404", "PP407"]


def test_thinking_budget(tmp_path):
    on = compile_text(tmp_path, 'prompt p() {\n  model { reasoning_tokens: 500, max_tokens: 800 }\n  user "hi"\n}\n')
    assert on.body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert on.body["max_tokens"] == 2048
    assert sorted(d.code for d in on.report) == ["PP404", "PP404"]
    off = compile_text(tmp_path, 'prompt p() {\n  model { reasoning_tokens: 0, max_tokens: 800 }\n  user "hi"\n}\n')
    assert off.body["thinking"] == {"type": "disabled"} and off.body["max_tokens"] == 800
    assert schemas.errors("anthropic", "CreateMessageParams", on.body) == []
