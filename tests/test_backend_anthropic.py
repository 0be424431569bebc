"""anthropic: bodies valid against `CreateMessageParams`, and its capability edges:
top-level system, strict alternation starting with user, tool results in user turns,
cache_control markers (at most 4), temperature at most 1, max_tokens required."""
from __future__ import annotations

import pytest

import polyprompt
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


MEDIA_PROMPT = 'prompt p(doc: file) {\n  model { max_tokens: 100 }\n  user { "Summarize:" file(doc) }\n}\n'


def test_a_plain_text_file_is_a_text_document(tmp_path):
    # the Messages API's `PlainTextSource`: the text itself, not base64 (issue 11 item 3)
    r = compile_text(tmp_path, MEDIA_PROMPT, doc="data:text/plain;base64,SGVsbG8sIHfDtnJsZC4=")
    block = r.body["messages"][0]["content"][1]
    assert block == {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Hello, wörld."}}
    assert schemas.errors("anthropic", "CreateMessageParams", r.body) == []


def test_pdfs_and_the_four_image_types_stay_base64(tmp_path):
    r = compile_text(tmp_path, MEDIA_PROMPT, doc="data:application/pdf;base64,JVBERi0=")
    assert r.body["messages"][0]["content"][1]["source"] == {"type": "base64", "media_type": "application/pdf",
                                                             "data": "JVBERi0="}
    for media_type in ("image/jpeg", "image/png", "image/gif", "image/webp"):
        r = compile_text(tmp_path, 'prompt p(x: image) {\n  user { image(x) }\n}\n', x=f"data:{media_type};base64,AAAA")
        assert r.body["messages"][0]["content"][0]["source"]["media_type"] == media_type
        assert schemas.errors("anthropic", "CreateMessageParams", r.body) == []


@pytest.mark.parametrize("kind, media_type, accepted", [
    ("file", "text/markdown", "application/pdf, text/plain"),
    ("file", "application/msword", "application/pdf, text/plain"),
    ("file", "text/csv", "application/pdf, text/plain"),
    ("image", "image/bmp", "image/gif, image/jpeg, image/png, image/webp"),
    ("image", "image/heic", "image/gif, image/jpeg, image/png, image/webp"),
])
def test_other_inline_types_are_refused_with_what_is_taken(tmp_path, kind, media_type, accepted):
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, f'prompt p(x: {kind}) {{\n  user {{ {kind}(x) }}\n}}\n', x=f"data:{media_type};base64,AAAA")
    [d] = err.value.diagnostics
    assert d.code == "PP302" and f"`{media_type}`" in d.message
    assert d.help.startswith(f"it takes: {accepted}; ")


def test_a_text_document_that_is_not_utf8_is_refused(tmp_path):
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, MEDIA_PROMPT, doc="data:text/plain;base64,//79")
    assert [d.code for d in err.value.diagnostics] == ["PP302"]


def test_a_strict_tool_is_sent_strict(tmp_path):
    # issue 11 item 6: `strict tool` -> Tool.strict (strict tool use), the schema as it is
    r = compile_text(tmp_path, '''
strict tool lookup(order_id: str, verbose?: bool) -> str "Look up an order."

prompt p() {
  model { max_tokens: 100 }
  tools lookup
  user "Where is A1?"
}
''')
    [tool] = r.body["tools"]
    assert tool["strict"] is True and tool["input_schema"]["required"] == ["order_id"]
    assert r.report == ()
    assert schemas.errors("anthropic", "CreateMessageParams", r.body) == []
