"""bedrock-converse: bodies valid against the Smithy `ConverseRequest` shape, and its
capability edges: top-level `system` blocks, strict alternation starting with user,
toolUse/toolResult blocks matched by id, `cachePoint` blocks (at most 4), settings under
`inferenceConfig` (temperature at most 1) and `additionalModelRequestFields`, images as
base64 bytes only, structured output as a JSON *string* in `outputConfig`."""
from __future__ import annotations

import base64
import json

import pytest

import polyprompt
from polyprompt.backends.bedrock_converse import BedrockConverse

import schemas
from helpers import compile_source
from test_golden import EXAMPLE_FILES, compile_example

TARGET = "bedrock-converse"


bedrock_errors = schemas.bedrock_errors
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_example_body_names_its_model(path):  # valid against the schema: tests/test_backends.py
    try:
        body = compile_example(path, TARGET).body
    except polyprompt.CompileError as err:  # image URLs, audio: reported, not emitted
        assert {d.code for d in err.diagnostics} == {"PP302"}
        return
    assert body["modelId"]  # the URI member is in the body, so a body is complete on its own


def test_the_validator_rejects_other_shapes():
    anthropic_blocks = {"modelId": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
    assert any("not a member of ContentBlock" in e for e in bedrock_errors(anthropic_blocks))
    two_members = {"modelId": "m", "messages": [{"role": "user", "content": [{"text": "x", "cachePoint": {"type": "default"}}]}]}
    assert any("union ContentBlock" in e for e in bedrock_errors(two_members))
    schema_object = {"modelId": "m", "messages": [], "outputConfig": {"textFormat": {
        "type": "json_schema", "structure": {"jsonSchema": {"schema": {"type": "object"}}}}}}
    assert any("expected a string" in e for e in bedrock_errors(schema_object))
    snake = {"modelId": "m", "messages": [], "inferenceConfig": {"max_tokens": 5}}
    assert bedrock_errors(snake) == ["/inferenceConfig/max_tokens: not a member of InferenceConfiguration"]
    url_image = {"modelId": "m", "messages": [{"role": "user", "content": [
        {"image": {"format": "png", "source": {"url": "https://x/y.png"}}}]}]}
    assert bedrock_errors(url_image)


def compile_text(tmp_path, text: str, **inputs):
    return compile_source(tmp_path, text, TARGET, **inputs)


def codes(result) -> list[str]:
    return sorted(d.code for d in result.report)


def test_system_alternation_and_tool_round_trip(tmp_path):
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
  system "Answer in English."
}
''')
    b = r.body
    assert b["system"] == [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}]
    assert [m["role"] for m in b["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    assert b["messages"][0]["content"] == [{"text": "(continue)"}]
    assert b["messages"][2]["content"] == [{"text": "Where is A1?\n\nPlease hurry."}]
    [use] = b["messages"][3]["content"]
    assert use["toolUse"]["name"] == "lookup" and use["toolUse"]["input"] == {"order_id": "A1"}
    result, thanks = b["messages"][4]["content"]
    assert result == {"toolResult": {"toolUseId": use["toolUse"]["toolUseId"], "content": [{"text": "shipped"}]}}
    assert thanks == {"text": "Thanks\n\nAnswer in English."}  # a late system turn is sent as user text
    assert b["toolConfig"]["tools"] == [{"toolSpec": {
        "name": "lookup", "description": "Look up an order.",
        "inputSchema": {"json": {"type": "object", "properties": {"order_id": {"type": "string"}},
                                 "required": ["order_id"], "additionalProperties": False}}}}]
    assert "inferenceConfig" not in b  # Converse needs no maxTokens
    assert codes(r) == ["PP400", "PP401", "PP401", "PP401", "PP402"]
    assert bedrock_errors(b) == []


def test_tool_errors_and_history_tools(tmp_path):
    history = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12C"},
    ]
    r = compile_text(tmp_path, 'prompt p(history: messages) {\n  history\n  user "And tomorrow?"\n}\n', history=history)
    b = r.body
    # Converse rejects toolUse blocks without a toolConfig: the tools the history uses are declared
    assert b["toolConfig"] == {"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object"}}}}]}
    assert b["messages"][1]["content"][0]["toolUse"] == {"toolUseId": "call_1", "name": "weather", "input": {"city": "Oslo"}}
    assert b["messages"][2]["content"][0]["toolResult"]["toolUseId"] == "call_1"
    assert any(d.code == "PP410" and "`weather`" in d.message for d in r.report)
    assert bedrock_errors(b) == []

    r = compile_text(tmp_path, '''
tool lookup(order_id: str) "Look up an order."
prompt p(h: messages) {
  tools lookup
  user "Where is A1?"
  history h
}
''', h=[{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c9", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c9", "content": "not found"}])
    assert len(r.body["toolConfig"]["tools"]) == 1  # declared tools: nothing added
    assert not any(d.code == "PP410" for d in r.report)


def test_error_results_carry_status():
    import itertools

    from polyprompt.compiler import ir

    block = BedrockConverse().block(ir.ToolResult(id="t1", name="f", content=(ir.Text(text="boom"),), is_error=True),
                                    itertools.count(1))
    assert block == {"toolResult": {"toolUseId": "t1", "content": [{"text": "boom"}], "status": "error"}}


def test_cache_points_limit_ttl_and_tools(tmp_path):
    turns = "\n".join(f'  user "u{i}"\n  assistant "a{i}"\n  cache' for i in range(5))
    r = compile_text(tmp_path, f'prompt p() {{\n  system "S"\n  cache "1h"\n{turns}\n  user "end"\n}}\n')
    points = [c for m in r.body["messages"] for c in m["content"] if "cachePoint" in c]
    assert len(points) == 4 and "cachePoint" not in json.dumps(r.body["system"])  # the last 4 kept
    assert all(m["content"][-1] == {"cachePoint": {"type": "default"}} for m in r.body["messages"][3:-1:2])
    assert [d.code for d in r.report].count("PP407") == 2
    assert bedrock_errors(r.body) == []

    r = compile_text(tmp_path, '''
tool lookup(order_id: str) "Look up an order."
prompt p() {
  tools lookup
  cache "1h"
  system "S"
  cache "5m"
  user "hi"
}
''')
    assert r.body["toolConfig"]["tools"][-1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert r.body["system"][-1] == {"cachePoint": {"type": "default", "ttl": "5m"}}
    assert bedrock_errors(r.body) == []


def test_settings(tmp_path):
    r = compile_text(tmp_path, '''
prompt p() {
  model "gpt-4o" { temperature: 1.5, top_p: 0.9, top_k: 40, max_tokens: 100, stop: ["END", "STOP"], seed: 3,
                   reasoning_tokens: 2048 }
  user "hi"
}
''')
    b = r.body
    assert b["modelId"] == BedrockConverse.default_model
    # max_tokens grows to leave room for the answer after a thinking budget of 2048
    assert b["inferenceConfig"] == {"temperature": 1.0, "topP": 0.9, "maxTokens": 3072, "stopSequences": ["END", "STOP"]}
    assert b["additionalModelRequestFields"] == {"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert codes(r) == ["PP403", "PP404", "PP404", "PP404"]  # seed dropped; model replaced; temperature; max_tokens
    assert bedrock_errors(b) == []

    r = compile_text(tmp_path, 'prompt p() {\n  model "us.amazon.nova-pro-v1:0"\n  user "hi"\n}\n')
    assert r.body["modelId"] == "us.amazon.nova-pro-v1:0" and codes(r) == []


def test_images_and_documents_as_bytes(tmp_path):
    src = 'prompt p(pic: image, doc: file) {\n  user { "Compare:" image(pic) file(doc) }\n}\n'
    pdf = base64.b64encode(b"%PDF-1.4 tiny").decode()
    r = compile_text(tmp_path, src, pic=f"data:image/jpeg;base64,{PNG}", doc=f"data:application/pdf;base64,{pdf}")
    _text, image, document = r.body["messages"][0]["content"]
    assert image == {"image": {"format": "jpeg", "source": {"bytes": PNG}}}
    assert document == {"document": {"format": "pdf", "name": "document-1", "source": {"bytes": pdf}}}
    assert bedrock_errors(r.body) == []
    params = BedrockConverse.boto3_params(r.body)
    assert params["messages"][0]["content"][1]["image"]["source"]["bytes"] == base64.b64decode(PNG)
    assert r.body["messages"][0]["content"][1]["image"]["source"]["bytes"] == PNG  # the body is left as is
    assert BedrockConverse.split(r.body) == (r.body["modelId"], {k: v for k, v in r.body.items() if k != "modelId"})

    with pytest.raises(polyprompt.CompileError) as err:  # no URLs: bytes (or S3) only
        compile_text(tmp_path, src, pic="https://example.com/a.png", doc=f"data:application/pdf;base64,{pdf}")
    assert [d.code for d in err.value.diagnostics] == ["PP302"]
    with pytest.raises(polyprompt.CompileError) as err:  # ImageFormat: png, jpeg, gif, webp
        compile_text(tmp_path, src, pic=f"data:image/bmp;base64,{PNG}", doc=f"data:application/pdf;base64,{pdf}")
    assert "image/bmp" in err.value.diagnostics[0].message


def test_structured_output_schema_is_a_string(tmp_path):
    r = compile_text(tmp_path, '''
type Place { name: str }
type Answer { place: Place, temp?: float }
prompt p() -> Answer {
  user "Where?"
}
''')
    definition = r.body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert r.body["outputConfig"]["textFormat"]["type"] == "json_schema"
    assert isinstance(definition["schema"], str) and definition["name"] == "p"
    assert json.loads(definition["schema"]) == r.request.output.schema  # the schema as given, JSON-encoded
    assert json.loads(definition["schema"])["$defs"]["Place"]["additionalProperties"] is False
    assert bedrock_errors(r.body) == []


def test_read_reply():
    reply = {"output": {"message": {"role": "assistant", "content": [
        {"text": "Checking."}, {"toolUse": {"toolUseId": "tu1", "name": "lookup", "input": {"order_id": "A1"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}
    out = BedrockConverse().read_reply(reply)
    assert out.text == "Checking." and out.finish_reason == "tool_use"
    assert [(c.id, c.name, c.arguments) for c in out.tool_calls] == [("tu1", "lookup", {"order_id": "A1"})]
