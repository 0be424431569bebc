"""openai-chat: bodies valid against OpenAI's `CreateChatCompletionRequest`, and the
edges of its capability table."""
from __future__ import annotations

import json

import pytest

import polyprompt

import schemas
from helpers import compile_source

TARGET = "openai-chat"


def test_the_validator_rejects_bad_bodies():
    assert schemas.errors("openai", "CreateChatCompletionRequest", {"model": "m"})  # no messages
    bad_role = {"model": "m", "messages": [{"role": "robot", "content": "x"}]}
    assert schemas.errors("openai", "CreateChatCompletionRequest", bad_role)


def compile_text(tmp_path, text: str, **inputs):
    return compile_source(tmp_path, text, TARGET, **inputs)


def test_tool_turns_and_strict_output(tmp_path):
    r = compile_text(tmp_path, '''
tool lookup(order_id: str) -> str "Look up an order."
type Out { status: str, note?: str }
prompt p(q: str) -> Out {
  tools lookup
  user "{{ q }}"
  tool_call lookup(order_id = "A1")
  tool_call lookup(order_id = "B2")
  tool_result lookup "shipped"
  tool_result lookup "lost"
}
''', q="where?")
    msgs = r.body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool"]
    calls = msgs[1]["tool_calls"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"order_id": "A1"}, {"order_id": "B2"}]
    assert msgs[1]["content"] is None
    assert [m["tool_call_id"] for m in msgs[2:]] == [c["id"] for c in calls]  # results pair with calls in order
    schema = r.body["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["required"] == ["status", "note"]
    assert schema["schema"]["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert r.body["tools"][0]["function"]["parameters"]["required"] == ["order_id"]


def test_settings_are_renamed_dropped_and_cut(tmp_path):
    r = compile_text(tmp_path, '''
prompt p() {
  model "gpt-4o" { max_tokens: 50, top_k: 5, seed: 1, stop: ["a", "b", "c", "d", "e"] }
  user "hi"
}
''')
    assert r.body["max_completion_tokens"] == 50 and "max_tokens" not in r.body
    assert r.body["seed"] == 1 and r.body["stop"] == ["a", "b", "c", "d"]
    assert "top_k" not in r.body
    assert {d.code for d in r.report} == {"PP403", "PP404"}


def test_media_parts(tmp_path):
    r = compile_text(tmp_path, 'prompt p(photo: image) {\n  user { "What is this?" image(photo) }\n}\n',
                     photo="data:image/png;base64,iVBORw0KGgo=")
    content = r.body["messages"][0]["content"]
    assert content == [{"type": "text", "text": "What is this?"},
                       {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, 'prompt p(clip: audio) {\n  user { audio(clip) }\n}\n', clip="https://x/a.wav")
    assert [d.code for d in err.value.diagnostics] == ["PP302"]


AUDIO_PROMPT = 'prompt p(clip: audio) {\n  user { "Transcribe:" audio(clip) }\n}\n'


@pytest.mark.parametrize("media_type", ["audio/ogg", "audio/flac", "audio/mp4", "audio/webm", "audio/aac"])
def test_audio_outside_wav_and_mp3_is_refused(tmp_path, media_type):
    # the schema's `input_audio.format` enum is wav and mp3 (issue 11 item 2)
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, AUDIO_PROMPT, clip=f"data:{media_type};base64,T2dnUw==")
    [d] = err.value.diagnostics
    assert d.code == "PP302" and media_type in d.message
    assert "audio/mpeg" in d.help and "audio/wav" in d.help and "ffmpeg" in d.help


@pytest.mark.parametrize("media_type, fmt", [("audio/wav", "wav"), ("audio/x-wav", "wav"), ("audio/mpeg", "mp3"),
                                             ("audio/mp3", "mp3")])
def test_wav_and_mp3_audio_are_written_with_their_format(tmp_path, media_type, fmt):
    r = compile_text(tmp_path, AUDIO_PROMPT, clip=f"data:{media_type};base64,UklGRg==")
    part = r.body["messages"][0]["content"][1]
    assert part == {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": fmt}}
    assert schemas.errors("openai", "CreateChatCompletionRequest", r.body) == []


def test_inline_files_carry_a_filename(tmp_path):
    # OpenAI answers a `file_data` part without `filename` with 400 "Missing required parameter" (issue 11 item 4)
    r = compile_text(tmp_path, 'prompt p(doc: file) {\n  user { "Summarize:" file(doc) }\n}\n',
                     doc="data:application/pdf;base64,JVBERi0=")
    part = r.body["messages"][0]["content"][1]
    assert part == {"type": "file", "file": {"filename": "file.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
    assert schemas.errors("openai", "CreateChatCompletionRequest", r.body) == []


STRICT_TOOLS = '''
strict tool lookup(order_id: str, verbose: bool = false) -> str "Look up an order."
tool plain(x: int)

prompt p() {
  tools lookup, plain
  user "Where is A1?"
}
'''


def test_a_strict_tool_is_sent_strict_with_strict_valid_parameters(tmp_path):
    # issue 11 item 6: `strict tool` -> FunctionObject.strict, the parameters in strict form
    r = compile_text(tmp_path, STRICT_TOOLS)
    strict, plain = (t["function"] for t in r.body["tools"])
    assert strict["strict"] is True and "strict" not in plain
    assert strict["parameters"]["required"] == ["order_id", "verbose"]
    assert strict["parameters"]["properties"]["verbose"] == {"anyOf": [{"type": "boolean"}, {"type": "null"}]}
    assert {d.code for d in r.report} == {"PP414"}
    assert schemas.errors("openai", "CreateChatCompletionRequest", r.body) == []


def test_strict_tools_format_and_check():
    from polyprompt import api

    text = api.format_text(STRICT_TOOLS.lstrip())
    assert text.startswith("strict tool lookup(order_id: str, verbose: bool = false) -> str")
    assert api.check_text(text) == []
