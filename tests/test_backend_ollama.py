"""ollama: bodies valid against a JSON Schema of the `/api/chat` request written from Ollama's
docs/api.md (refdata/ollama/api.md: there is no machine-readable schema), and the edges of
its capability table: `options` with Modelfile names, base64 `images` on the message, tool
calls without ids, `format` as the schema itself, `"stream": false`."""
from __future__ import annotations

import json
import re

import jsonschema
import pytest

import polyprompt

from helpers import REFDATA, compile_source
from test_golden import EXAMPLE_FILES, compile_example

TARGET = "ollama"
API_MD = REFDATA / "ollama" / "api.md"
PNG_DATA = "iVBORw0KGgo="
PNG = f"data:image/png;base64,{PNG_DATA}"

# ---------------------------------------------------------------- the request schema, from api.md
# Every line cites the api.md heading it comes from. api.md marks optional fields "(optional)"
# and lists the others plainly; it does not forbid unknown keys (Ollama's Go decoder ignores
# them), but this schema does (additionalProperties false) so that a misspelt key fails here
# instead of being silently ignored by the server.

# "## Generate a chat completion" > "### Parameters": "The `message` object has the following fields"
MESSAGE = {
    "type": "object",
    "required": ["role", "content"],  # the two fields not marked "(optional)"
    "properties": {
        # "`role`: the role of the message, either `system`, `user`, `assistant`, or `tool`"
        "role": {"enum": ["system", "user", "assistant", "tool"]},
        # "`content`: the content of the message" (a string in every example)
        "content": {"type": "string"},
        # "`thinking`: (for thinking models) the model's thinking process"
        "thinking": {"type": "string"},
        # "`images` (optional): a list of images to include in the message"; "#### Chat request (with
        # images)": "The images should be provided as an array, with the individual images encoded in Base64"
        "images": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z0-9+/]*={0,2}$"}},
        # "`tool_calls` (optional): a list of tools in JSON that the model wants to use"; shape from
        # "#### Chat request (With history, with tools)": {"function": {"name", "arguments": {...}}}
        "tool_calls": {"type": "array", "items": {"$ref": "#/$defs/tool_call"}},
        # "`tool_name` (optional): add the name of the tool that was executed to inform the model of the result"
        "tool_name": {"type": "string"},
    },
    "additionalProperties": False,
}

# "#### Chat request (With history, with tools)": the assistant turn's tool call (no id, no type)
TOOL_CALL = {
    "type": "object",
    "required": ["function"],
    "properties": {"function": {
        "type": "object",
        "required": ["name", "arguments"],
        "properties": {"name": {"type": "string"}, "arguments": {"type": "object"}},  # an object, not a JSON string
        "additionalProperties": False,
    }},
    "additionalProperties": False,
}

# "`tools`: list of tools in JSON for the model to use if supported"; shape from
# "#### Chat request (Streaming with tools)" and "#### Chat request (with tools)"
TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name", "parameters"],
            "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                           "parameters": {"type": "object"}},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

# "`options`: additional model parameters listed in the documentation for the Modelfile such as
# `temperature`"; the names and types are those of "#### Generate request (With options)", which
# "sets every available option"
_INT, _NUM, _BOOL = {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
OPTIONS = {
    "type": "object",
    "properties": {
        "num_keep": _INT, "seed": _INT, "num_predict": _INT, "draft_num_predict": _INT, "top_k": _INT,
        "top_p": _NUM, "min_p": _NUM, "typical_p": _NUM, "repeat_last_n": _INT, "temperature": _NUM,
        "repeat_penalty": _NUM, "presence_penalty": _NUM, "frequency_penalty": _NUM, "penalize_newline": _BOOL,
        "stop": {"type": "array", "items": {"type": "string"}}, "numa": _BOOL, "num_ctx": _INT,
        "num_batch": _INT, "num_gpu": _INT, "main_gpu": _INT, "use_mmap": _BOOL, "num_thread": _INT,
    },
    "additionalProperties": False,
}

CHAT_REQUEST = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["model"],  # "`model`: (required) the model name"
    "properties": {
        "model": {"type": "string", "minLength": 1},
        # "`messages`: the messages of the chat, this can be used to keep a chat memory"
        "messages": {"type": "array", "items": {"$ref": "#/$defs/message"}},
        "tools": {"type": "array", "items": {"$ref": "#/$defs/tool"}},
        # "`think`: ... Can be a boolean or a thinking level (`"low"`, `"medium"`, `"high"`, or `"max"`)"
        "think": {"anyOf": [{"type": "boolean"}, {"enum": ["low", "medium", "high", "max"]}]},
        # Advanced parameters: "`format`: ... Format can be `json` or a JSON schema"
        "format": {"anyOf": [{"const": "json"}, {"type": "object"}]},
        "options": {"$ref": "#/$defs/options"},
        # "`stream`: if `false` the response will be returned as a single response object"
        "stream": {"type": "boolean"},
        # "`keep_alive`: controls how long the model will stay loaded into memory ... (default: `5m`)"
        "keep_alive": {"type": ["string", "number"]},
    },
    "additionalProperties": False,
    "$defs": {"message": MESSAGE, "tool_call": TOOL_CALL, "tool": TOOL, "options": OPTIONS},
}

VALIDATOR = jsonschema.Draft202012Validator(CHAT_REQUEST)


def errors(body: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in VALIDATOR.iter_errors(body)]


def doc_request_bodies(section: str, end: str) -> list[dict]:
    """The JSON bodies of the curl examples between two headings of api.md (`// ...` lines removed)."""
    text = API_MD.read_text()
    text = text[text.index(section): text.index(end)]
    bodies = []
    for block in re.findall(r"```shell\n(.*?)```", text, re.DOTALL):
        raw = re.search(r"-d '(.*)'", block, re.DOTALL).group(1)
        raw = "\n".join(line for line in raw.splitlines() if not line.strip().startswith("//"))
        bodies.append(json.loads(raw))
    return bodies


def test_the_schema_accepts_every_chat_example_of_the_docs():
    bodies = doc_request_bodies("## Generate a chat completion", "## Create a Model")
    assert len(bodies) == 12  # streaming, tools, structured outputs, history, images, seed, load/unload
    for body in bodies:
        assert errors(body) == [], body


def test_the_options_schema_matches_the_docs_options_example():
    [body] = [b for b in doc_request_bodies("## Generate a completion", "## Generate a chat completion")
              if len(b.get("options", {})) > 5]
    assert set(body["options"]) == set(OPTIONS["properties"])
    assert jsonschema.Draft202012Validator(OPTIONS).is_valid(body["options"])


def test_the_validator_rejects_bad_bodies():
    ok = {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}], "stream": False}
    assert errors(ok) == []
    assert errors({"messages": ok["messages"]})  # no model
    assert errors({**ok, "max_tokens": 5})  # settings live in `options`
    assert errors({**ok, "options": {"max_tokens": 5}})  # ... under Modelfile names (num_predict)
    data_uri = {"role": "user", "content": "x", "images": [PNG]}  # bare base64, not a data URI
    assert errors({**ok, "messages": [data_uri]})
    parts = {"role": "user", "content": [{"type": "text", "text": "x"}]}  # no content parts
    assert errors({**ok, "messages": [parts]})
    openai_call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    assert errors({**ok, "messages": [openai_call]})
    assert errors({**ok, "think": "minimal"})


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_example_body_is_not_streamed(path):  # valid against the schema: tests/test_backends.py
    try:
        body = compile_example(path, TARGET).body
    except polyprompt.CompileError as err:  # an image URL or audio: Ollama takes neither
        assert {d.code for d in err.diagnostics} == {"PP302"}
        return
    assert body["stream"] is False


def compile_text(tmp_path, text: str, **inputs):
    return compile_source(tmp_path, text, TARGET, **inputs)


def test_tool_round_trip(tmp_path):
    r = compile_text(tmp_path, '''
tool lookup(order_id: str) -> str "Look up an order."
prompt p(q: str) {
  system "Be brief."
  tools lookup
  user "{{ q }}"
  tool_call lookup(order_id = "A1")
  tool_call lookup(order_id = "B2")
  tool_result lookup "shipped"
  tool_result lookup "lost"
  user "And the third one?"
}
''', q="where?")
    msgs = r.body["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert msgs[2] == {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "lookup", "arguments": {"order_id": "A1"}}},
        {"function": {"name": "lookup", "arguments": {"order_id": "B2"}}}]}
    assert msgs[3] == {"role": "tool", "content": "shipped", "tool_name": "lookup"}
    assert r.body["tools"][0]["function"]["parameters"]["required"] == ["order_id"]
    assert r.report == ()
    assert errors(r.body) == []


def test_settings_go_in_options(tmp_path):
    r = compile_text(tmp_path, '''
prompt p() {
  model "qwen3:8b" { max_tokens: 50, top_k: 5, top_p: 0.9, seed: 1, temperature: 1.8, stop: ["a", "b", "c", "d", "e"], presence_penalty: 0.5, reasoning_tokens: 100 }
  user "hi"
}
''')
    b = r.body
    assert b["model"] == "qwen3:8b"
    assert b["options"] == {"num_predict": 50, "top_k": 5, "top_p": 0.9, "seed": 1, "temperature": 1.8,
                            "stop": ["a", "b", "c", "d", "e"], "presence_penalty": 0.5}
    assert [d.code for d in r.report] == ["PP403"]  # reasoning_tokens: no such option
    assert b["stream"] is False
    assert errors(b) == []


@pytest.mark.parametrize("level, think, codes", [("none", False, []), ("high", "high", []),
                                                 ("minimal", "low", ["PP404"])])
def test_reasoning_is_think(tmp_path, level, think, codes):
    r = compile_text(tmp_path, f'prompt p() {{\n  model {{ reasoning: "{level}" }}\n  user "hi"\n}}\n')
    assert r.body["think"] == think and type(r.body["think"]) is type(think)
    assert [d.code for d in r.report] == codes
    assert errors(r.body) == []


@pytest.mark.parametrize("model, kept", [("gpt-4o", False), ("claude-sonnet-4-5", False), ("gemini-2.5-flash", False),
                                         ("mistral-large-latest", False), ("gpt-oss:20b", True), ("gpt-oss", True),
                                         ("mistral-nemo", True), ("gemma3", True), ("llama3.1:70b", True)])
def test_hosted_api_models_are_replaced(tmp_path, model, kept):
    r = compile_text(tmp_path, f'prompt p() {{\n  model "{model}"\n  user "hi"\n}}\n')
    assert r.body["model"] == (model if kept else "llama3.2")
    assert [d.code for d in r.report] == ([] if kept else ["PP404"])


def test_images_are_base64_on_the_message(tmp_path):
    r = compile_text(tmp_path, 'prompt p(photo: image) {\n  user { "What is " image(photo) "this?" }\n}\n', photo=PNG)
    assert r.body["messages"] == [{"role": "user", "content": "What is this?", "images": [PNG_DATA]}]
    assert errors(r.body) == []
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, 'prompt p(photo: image) {\n  user { image(photo) }\n}\n', photo="https://x/a.png")
    assert [d.code for d in err.value.diagnostics] == ["PP302"]
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, 'prompt p(clip: audio) {\n  user { audio(clip) }\n}\n', clip="data:audio/wav;base64,UklGRg==")
    assert [d.code for d in err.value.diagnostics] == ["PP302"]


def test_structured_output_is_the_format(tmp_path):
    r = compile_text(tmp_path, '''
type Out { status: str, note?: str }
prompt p() -> Out {
  user "status?"
}
''')
    assert r.body["format"] == {"type": "object", "properties": {"status": {"type": "string"}, "note": {"type": "string"}},
                                "required": ["status"], "additionalProperties": False}
    assert r.report == ()
    assert errors(r.body) == []


def test_cache_marks_are_dropped(tmp_path):
    r = compile_text(tmp_path, 'prompt p() {\n  system "S"\n  cache\n  user "hi"\n}\n')
    assert r.body["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    assert [d.code for d in r.report] == ["PP407"]
