"""`parse` reads the SDKs' response objects as the JSON they came from (issue 11 item 8).

Each reply below is the provider's JSON; the SDK's own object for it is made the most real way:
the SDK's call, answered with that JSON by a mock transport, parsed by the SDK. `parse` must read
the object (and the dicts users dump from it: `model_dump()` with its nulls, google-genai's
snake_case `to_json_dict()`) exactly as it reads the JSON.
"""
from __future__ import annotations

import json

import pytest

import polyprompt
from polyprompt.compiler.replies import ReplyError
from sdk_clients import Wire, make_client

PROMPT = '''
enum Category { billing, bug }
type Triage { category: Category, urgent: bool, note?: str }
tool lookup(order_id: str) "Look up an order."
prompt triage(ticket: str) -> Triage {
  tools lookup
  user "{{ ticket }}"
}
'''
ANSWER = '{"category": "bug", "urgent": true, "note": "charged twice"}'
ARGS = {"order_id": "A1"}
MISTRAL_USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def chat_reply(model: str, finish: str, message: dict, **more) -> dict:
    """A Chat Completions-style reply (OpenAI, Mistral, compatible servers)."""
    return {"id": "cmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", **message}}], **more}


#: per target: (a text reply, a tool-call reply), as each API returns them
REPLIES = {
    "openai-chat": (
        chat_reply("gpt-4o-mini", "stop", {"content": ANSWER, "refusal": None}),
        chat_reply("gpt-4o-mini", "tool_calls", {"content": None, "refusal": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": json.dumps(ARGS)}}]})),
    "openai-responses": tuple(
        {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-4o-mini",
         "output": [item]} for item in (
            {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": ANSWER, "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup",
             "arguments": json.dumps(ARGS), "status": "completed"})),
    "anthropic": tuple(
        {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [block],
         "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 2}}
        for block, stop in (({"type": "text", "text": ANSWER}, "end_turn"),
                            ({"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": ARGS}, "tool_use"))),
    "gemini": tuple(
        {"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [part]}}],
         "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
         "modelVersion": "gemini-2.5-flash"}
        for part in ({"text": ANSWER}, {"functionCall": {"id": "fc_1", "name": "lookup", "args": ARGS}})),
    "vertex": tuple(
        {"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": parts}}],
         "modelVersion": "gemini-2.5-flash"}
        for parts in ([{"thought": True, "text": "Thinking..."}, {"text": ANSWER}],
                      [{"functionCall": {"name": "lookup", "args": ARGS}}])),
    "bedrock-converse": tuple(
        {"output": {"message": {"role": "assistant", "content": [block]}}, "stopReason": stop,
         "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}, "metrics": {"latencyMs": 100}}
        for block, stop in (({"text": ANSWER}, "end_turn"),
                            ({"toolUse": {"toolUseId": "tool_1", "name": "lookup", "input": ARGS}}, "tool_use"))),
    "mistral": tuple(chat_reply("mistral-large-latest", finish, message, usage=MISTRAL_USAGE) for finish, message in (
        ("stop", {"content": ANSWER, "tool_calls": None}),
        ("tool_calls", {"content": "", "tool_calls": [
            {"id": "D681PevKs", "type": "function", "function": {"name": "lookup", "arguments": json.dumps(ARGS)}}]}))),
    "ollama": tuple(
        {"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z", "done": True, "done_reason": "stop",
         "message": {"role": "assistant", "content": content, **more}}
        for content, more in ((ANSWER, {}), ("", {"tool_calls": [{"function": {"name": "lookup", "arguments": ARGS}}]}))),
}
CASES = [(target, kind) for target in REPLIES for kind in ("text", "tool call")]


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    path = tmp_path_factory.mktemp("replies") / "t.prompt"
    path.write_text(PROMPT)
    return polyprompt.load(path)


def sdk_object(compiled, reply: dict):
    """The SDK's response object for `reply`: the call made, the reply parsed by the SDK."""
    wire = Wire(reply)
    return compiled.sdk_call()(make_client(compiled.target, wire, compiled.backend.options))


def reply_of(target: str, kind: str) -> dict:
    return REPLIES[target][0 if kind == "text" else 1]


@pytest.mark.parametrize("target,kind", CASES)
def test_parse_reads_the_sdk_object_as_its_json(pf, target, kind):
    c = pf.compile(target, {"ticket": "I was charged twice"})
    raw = reply_of(target, kind)
    obj = sdk_object(c, raw)
    assert not isinstance(obj, dict) or target == "bedrock-converse"  # boto3 answers with a dict
    expected = polyprompt.parse(target, raw)
    assert polyprompt.parse(target, obj) == expected
    assert c.parse(obj) == c.parse(raw)
    if kind == "text":
        assert c.parse(obj).value == {"category": "bug", "urgent": True, "note": "charged twice"}
    else:
        assert [(t.name, t.arguments) for t in expected.tool_calls] == [("lookup", ARGS)]


@pytest.mark.parametrize("target,kind", [case for case in CASES if case[0] != "bedrock-converse"])
def test_parse_reads_the_dicts_dumped_from_sdk_objects(pf, target, kind):
    """`model_dump()` keeps null fields under the SDK's field names (snake_case for google-genai),
    `to_json_dict()` drops them: both read as the JSON."""
    c = pf.compile(target, {"ticket": "I was charged twice"})
    raw = reply_of(target, kind)
    obj = sdk_object(c, raw)
    expected = polyprompt.parse(target, raw)
    assert polyprompt.parse(target, obj.model_dump()) == expected
    assert polyprompt.parse(target, obj.model_dump(mode="json")) == expected
    if hasattr(obj, "to_json_dict"):
        assert polyprompt.parse(target, obj.to_json_dict()) == expected


@pytest.mark.parametrize("target", ["gemini", "vertex"])
def test_the_gemini_reader_ignores_null_fields(target):
    reply = {"candidates": [{"finishReason": "STOP", "content": {"role": "model", "parts": [
        {"text": None, "functionCall": {"name": "lookup", "args": ARGS, "id": None}, "thought": None},
        {"text": "Done.", "functionCall": None, "inlineData": None}]}, "citationMetadata": None}],
        "promptFeedback": None}
    parts = polyprompt.parse(target, reply)
    assert parts.text == "Done." and parts.finish_reason == "STOP"
    assert [(t.id, t.name, t.arguments) for t in parts.tool_calls] == [("call_1", "lookup", ARGS)]


def test_an_object_that_is_no_reply_is_a_reply_error():
    class Broken:
        def model_dump(self, **_):
            raise TypeError("cannot dump")

    with pytest.raises(ReplyError, match="cannot read a Broken as a gemini reply"):
        polyprompt.parse("gemini", Broken())
    with pytest.raises(ReplyError, match="a openai-chat reply is a JSON object, got object"):
        polyprompt.parse("openai-chat", object())
