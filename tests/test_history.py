"""History (`messages`) inputs in every supported provider's shape (compiler/history.py, docs/history.md).

Each shape reads into the same IR turns; every API target writes them in its own shape; a history
in target X's own shape, compiled for X, gives back the same turns; what cannot be converted is an
InputError naming the turn and the part (never a dropped turn, never an internal error); tool
results are matched with their calls, and a call of a tool the prompt does not offer is PP416.
"""
from __future__ import annotations

import json

import pytest

import polyprompt
from polyprompt import backends
from polyprompt.compiler import ir
from polyprompt.compiler.history import read
from polyprompt.compiler.inputs import InputError

API_TARGETS = backends.names()
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PNG_URI = f"data:image/png;base64,{PNG}"

CHAT = '''tool lookup(order: str) -> str "Look an order up."

prompt chat(question: str = "Thanks.", history: messages = []) {
  tools lookup
  history
  user "{{ question }}"
}
'''

#: one conversation (a question with an image, a tool call, its result, an answer) in each shape
SHAPES = {
    "openai-chat": [
        {"role": "user", "content": [{"type": "text", "text": "Where is 7?"},
                                     {"type": "image_url", "image_url": {"url": PNG_URI, "detail": "auto"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"order": "7"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
        {"role": "assistant", "content": "It shipped.", "refusal": None}],
    "openai-responses": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Where is 7?"},
                                                        {"type": "input_image", "image_url": PNG_URI,
                                                         "detail": "auto"}]},
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"order":"7"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "shipped"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "It shipped.", "annotations": []}]}],
    "anthropic": [
        {"role": "user", "content": [{"type": "text", "text": "Where is 7?"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                  "data": PNG}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "lookup", "input": {"order": "7"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "shipped"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "It shipped."}]}],
    "gemini": [
        {"role": "user", "parts": [{"text": "Where is 7?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]},
        {"role": "model", "parts": [{"functionCall": {"id": "c1", "name": "lookup", "args": {"order": "7"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "c1", "name": "lookup",
                                                         "response": {"result": "shipped"}}}]},
        {"role": "model", "parts": [{"text": "It shipped."}]}],
    "bedrock-converse": [
        {"role": "user", "content": [{"text": "Where is 7?"}, {"image": {"format": "png", "source": {"bytes": PNG}}}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "c1", "name": "lookup", "input": {"order": "7"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "c1", "content": [{"text": "shipped"}]}}]},
        {"role": "assistant", "content": [{"text": "It shipped."}]}],
    "mistral": [
        {"role": "user", "content": [{"type": "text", "text": "Where is 7?"}, {"type": "image_url", "image_url": PNG_URI}]},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"order": "7"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "lookup", "content": "shipped"},
        {"role": "assistant", "content": "It shipped.", "prefix": False}],
    "ollama": [
        {"role": "user", "content": "Where is 7?", "images": [PNG]},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "lookup", "arguments": {"order": "7"}}}]},
        {"role": "tool", "tool_name": "lookup", "content": "shipped"},
        {"role": "assistant", "content": "It shipped."}],
}


def neutral(turns: list[ir.Message]) -> list:
    """IR turns with call ids numbered in order (shapes without ids get made ones)."""
    ids: dict[str, int] = {}

    def part(p):
        if isinstance(p, ir.Text):
            return ("text", p.text)
        if isinstance(p, ir.Media):
            return ("media", p.kind, p.url, p.data, p.media_type)
        if isinstance(p, ir.ToolCall):
            return ("call", ids.setdefault(p.id, len(ids)), p.name, p.arguments)
        return ("result", ids.setdefault(p.id, len(ids)), p.name, tuple(part(c) for c in p.content), p.is_error)

    return [(m.role, m.source, tuple(part(p) for p in m.parts)) for m in turns]


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    path = tmp_path_factory.mktemp("history") / "chat.prompt"
    path.write_text(CHAT)
    return polyprompt.load(path)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_reads_into_the_same_turns(shape):
    turns, problems = read(SHAPES[shape])
    assert problems == []
    assert neutral(turns) == neutral(read(SHAPES["openai-chat"])[0])
    assert [m.role for m in turns] == ["user", "assistant", "tool", "assistant"]


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("target", API_TARGETS)
def test_every_shape_compiles_for_every_target_with_nothing_dropped(chat, shape, target):
    """The issue's case: an Anthropic history compiled for anthropic came out as `"messages": []`."""
    r = chat.compile(target, inputs={"history": SHAPES[shape]})
    text = json.dumps(r.body, ensure_ascii=False)
    for piece in ("Where is 7?", "lookup", "shipped", "It shipped.", "Thanks."):
        assert piece in text, (shape, target, piece)
    assert not [d for d in r.report if d.code in ("PP408", "PP409")]  # nothing dropped, not even with a note
    if "image" in r.backend.caps.media and not r.backend.caps.media_urls - {"data"}:
        assert PNG in text


# ---------------------------------------------------------------- round trip: a target's own shape
WRITER = '''tool lookup(order: str) -> str "Look an order up."

prompt write(img: image) {
  tools lookup
  user { "Where is 7?" image(img) }
  tool_call lookup(order = "7") id "call1"
  tool_result lookup id "call1" "shipped"
  assistant "It shipped."
  user "Thanks."
}

prompt replay(history: messages) {
  tools lookup
  history
}
'''
TURNS_KEY = {"openai-responses": "input", "gemini": "contents", "vertex": "contents"}


@pytest.mark.parametrize("target", API_TARGETS)
def test_a_targets_own_shape_round_trips(tmp_path, target):
    path = tmp_path / "p.prompt"
    path.write_text(WRITER)
    pf = polyprompt.load(path)
    key = TURNS_KEY.get(target, "messages")
    written = pf.compile(target, inputs={"img": PNG_URI}, prompt="write")
    turns = written.body[key]
    replayed = pf.compile(target, inputs={"history": turns}, prompt="replay")
    assert replayed.body[key] == turns
    assert [d.code for d in replayed.report if d.code.startswith(("PP408", "PP409", "PP416"))] == []


# ---------------------------------------------------------------- refused: named, never dropped
@pytest.mark.parametrize("history, where, words", [
    ([{"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}]}],
     "history[0].content[0]", "reasoning (`thinking`)"),
    ([{"role": "model", "parts": [{"executableCode": {"code": "1"}}]}], "history[0].parts[0].executableCode",
     "code execution"),
    ([{"role": "user", "content": [{"type": "video_url", "video_url": "x"}]}], "history[0].content[0].type",
     "`video_url` is not a content part"),
    ([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}],
     "history[0].content[0].file.file_id", "a file id names a file stored at one provider"),
    ([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "x"}]}],
     "history[0].content[0]", "answers call `t9`, which no earlier turn of the history makes"),
    ([{"role": "tool", "tool_call_id": "c1", "content": "x"}], "history[0]", "which no earlier turn"),
    ([{"role": "tool", "tool_name": "lookup", "content": "x"}], "history[0]", "answers no earlier call"),
    ([{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "lookup", "input": {}}]}],
     "history[0].content[0]", "a tool call belongs in an assistant turn"),
    ([{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "lookup", "arguments": "{oops"}}]}],
     "history[0].tool_calls[0].function.arguments", "is not JSON text"),
    ([{"role": "model", "content": "hi"}], "history[0].role", "must be one of"),
    ([{"role": "user", "content": "hi", "name": "Ann"}], "history[0].name", "is not converted by polyprompt"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}],
     "history[0].content[0].image_url", "a data: URI must be base64"),
    ([{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "lookup", "arguments": "{}"}},
        {"id": "c", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}],
     "history[0].tool_calls[1]", "tool call id `c` is used twice"),
    ([{"role": "user", "parts": [{"text": "a", "thought": True}]}], "history[0].parts[0]", "reasoning"),
])
def test_what_cannot_be_converted_is_an_input_error_naming_the_part(chat, history, where, words):
    for target in ("openai-chat", "anthropic"):
        with pytest.raises(InputError) as err:
            chat.compile(target, inputs={"history": history})
        found = [p for p in err.value.problems if p.path == where]
        assert found and words in found[0].message, (target, [str(p) for p in err.value.problems])


# ---------------------------------------------------------------- issue 12 item 14: wrong inner shapes
WRONG = [
    5, "hi", {"role": "user"}, [5], [None], [[]], [{"role": 1}], [{"role": "user", "content": 5}],
    [{"role": "user", "content": [5]}], [{"role": "user", "content": [None]}], [{"role": "user", "content": [[]]}],
    [{"role": "user", "content": [{"type": 5}]}], [{"role": "user", "content": [{"type": "text", "text": 5}]}],
    [{"role": "user", "content": [{"type": "text"}]}], [{"role": "user", "content": [{}]}],
    [{"role": "user", "content": [{"type": "image_url", "image_url": 5}]}],
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": None}}]}],
    [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": 1, "format": []}}]}],
    [{"role": "user", "content": [{"type": "file", "file": "x"}]}],
    [{"role": "user", "content": [{"type": "image", "source": "x"}]}],
    [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": 1}}]}],
    [{"role": "assistant", "tool_calls": "x"}], [{"role": "assistant", "tool_calls": [5]}],
    [{"role": "assistant", "tool_calls": [{"function": 5}]}],
    [{"role": "assistant", "tool_calls": [{"function": {"name": 5, "arguments": "{}"}}]}],
    [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 5}}]}],
    [{"role": "assistant", "tool_calls": [{"id": 5, "function": {"name": "f"}}]}],
    [{"role": "tool", "tool_call_id": 5, "content": "x"}], [{"role": "tool", "tool_call_id": "c", "content": 5}],
    [{"role": "user", "images": "x"}], [{"role": "user", "images": [5]}],
    [{"role": "user", "parts": 5}], [{"role": "user", "parts": [5]}], [{"role": "user", "parts": [{"text": 5}]}],
    [{"role": "user", "parts": [{"inlineData": 5}]}], [{"role": "user", "parts": [{"fileData": {"fileUri": 5}}]}],
    [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": 5}}]}],
    [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": 5}}]}],
    [{"role": "user", "content": [{"toolResult": 5}]}], [{"role": "user", "content": [{"image": {"format": 5}}]}],
    [{"type": "function_call", "call_id": 5}], [{"type": "function_call_output", "call_id": "x", "output": 5}],
    [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}],
    [{"type": {}, "call_id": "c"}], [{"role": "user", "content": [{"type": {}}]}], [{"role": {}, "parts": []}],
    [{"role": ["user"], "content": "x"}], [{"role": "user", "content": "x", "images": ["data:image/png,abc"]}],
    [{"type": "function_call_output", "call_id": "x", "output": [{"type": "tool_use"}]}],
    [SHAPES["anthropic"][1], {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "is_error": "yes"}]}],
    [SHAPES["bedrock-converse"][1], {"role": "user", "content": [{"toolResult": {"toolUseId": "c1", "status": 1}}]}],
    [{"role": "assistant", "content": "x", "refusal": 5}], [{"role": "user", "content": "x", "tool_call_id": "c1"}],
]


@pytest.mark.parametrize("history", WRONG, ids=[json.dumps(h)[:60] for h in WRONG])
def test_wrong_inner_shapes_are_input_errors_on_every_target(chat, history):
    for target in API_TARGETS:
        with pytest.raises(InputError) as err:
            chat.compile(target, inputs={"history": history})
        assert err.value.problems and all(p.path.startswith("history") for p in err.value.problems)


# ---------------------------------------------------------------- tools
def test_a_user_turn_mixing_results_and_text_keeps_its_order(chat):
    history = [SHAPES["anthropic"][1], {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "c1", "content": "shipped", "is_error": True},
        {"type": "text", "text": "and the other one?"}]}]
    turns, problems = read(history)
    assert problems == []
    assert [m.role for m in turns] == ["assistant", "tool", "user"]
    assert turns[1].parts[0].is_error and turns[2].text == "and the other one?"
    body = chat.compile("openai-chat", inputs={"history": history}).body
    assert [m["role"] for m in body["messages"]] == ["assistant", "tool", "user", "user"]
    last = chat.compile("anthropic", inputs={"history": history}).body["messages"][-1]["content"]  # one user turn again
    assert last[0]["type"] == "tool_result" and last[0]["is_error"] is True
    assert [b["text"] for b in last[1:]] == ["and the other one?\n\nThanks."]  # same-role turns merged (PP401)


def test_ollama_results_answer_the_oldest_open_call_of_their_tool():
    history = [{"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "lookup", "arguments": {"order": "1"}}},
        {"function": {"name": "lookup", "arguments": {"order": "2"}}}]},
        {"role": "tool", "tool_name": "lookup", "content": "one"}, {"role": "tool", "tool_name": "lookup", "content": "two"}]
    turns, problems = read(history)
    calls = [p.id for p in turns[0].parts]
    assert problems == [] and len(set(calls)) == 2
    assert [m.parts[0].id for m in turns[1:]] == calls


def test_a_call_of_a_tool_the_prompt_does_not_offer_is_a_warning(chat):
    history = [{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "refund", "input": {}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "done"}]}]
    for target in API_TARGETS:
        r = chat.compile(target, inputs={"history": history})
        found = [d for d in r.report if d.code == "PP416"]
        assert len(found) == 1 and found[0].severity == "warning" and "`refund`" in found[0].message



def test_anthropic_gets_the_tools_of_history_calls_declared(tmp_path):
    """Anthropic: "Requests which include `tool_use` or `tool_result` blocks must define tools"."""
    path = tmp_path / "p.prompt"
    path.write_text('prompt p(h: messages) {\n  history h\n  user "Summarize."\n}\n')
    r = polyprompt.load(path).compile("anthropic", inputs={"h": SHAPES["anthropic"]})
    assert r.body["tools"] == [{"name": "lookup", "input_schema": {"type": "object"}}]
    assert any(d.code == "PP410" and "`lookup`" in d.message for d in r.report)


def test_ollama_images_may_be_data_uris():
    turns, problems = read([{"role": "user", "content": "x", "images": [PNG_URI, PNG]}])
    assert problems == [] and [(p.data, p.media_type) for p in turns[0].parts[1:]] == [(PNG, "image/png")] * 2


def test_cache_markers_in_a_history_mark_the_end_of_their_turn():
    turns, problems = read([{"role": "user", "content": [
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "1h"}}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": [{"text": "c"}, {"cachePoint": {"type": "default"}}]}])
    assert problems == [] and [m.cache for m in turns] == ["1h", "default"]
    assert [m.text for m in turns] == ["ab", "c"]


def test_open_models_get_every_result_of_a_turn_of_results(chat):
    """A user turn of two results is two tool turns, which an alternating template's merge made one
    turn again: the hf target wrote only its first result."""
    history = [{"role": "user", "content": "Both?"},
               {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "lookup", "input": {"order": "1"}},
                                                 {"type": "tool_use", "id": "b", "name": "lookup", "input": {"order": "2"}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "first-result"},
                                            {"type": "tool_result", "tool_use_id": "b", "content": "second-result"}]}]
    prompt = chat.compile("hf-family:mistral-v7", inputs={"history": history}).body["prompt"]
    assert "first-result" in prompt and "second-result" in prompt
