"""`Compiled.sdk_kwargs` against the providers' real SDKs (issue 11 item 9).

For every API target and every example that compiles for it (and prompts that use every setting,
tools, an output type and media): `client.<method>(**compiled.sdk_kwargs)` succeeds on the real
SDK, over a mock transport, and the JSON the SDK puts on the wire equals `compiled.body`, modulo
what each SDK changes on its own, listed here one by one (and in docs/sdk.md):

- google-genai: the model goes in the URL; some field names go out in snake_case
  (`fileData.file_uri`), and inline data in URL-safe base64 (`-_` for `+/`): the API's JSON parser
  takes both spellings and both alphabets; on Vertex, `"generationConfig": {}` when the config holds
  tools or a system instruction alone;
- mistralai: `"stream": false`, `"prefix": false` on assistant messages and `"index": 0` on tool
  calls, the fields' defaults;
- ollama: `"tools": []` when there are none, message fields whose value is empty left out, and the
  tool-schema keywords `ollama.Tool` has no field for dropped: exactly those `SdkCall.notes` names;
- boto3: the model id goes in the URL.
"""
from __future__ import annotations

import atexit
import base64
import functools
import inspect
import json
import re
import shutil
import tempfile
import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner

import polyprompt
from helpers import EXAMPLES
from polyprompt import backends
from polyprompt.backends.sdk import NoSdkCall, SdkCall
from polyprompt.backends.sdk.ollama import dropped
from polyprompt.backends.sdk.openai import DEFAULT_BASE_URL
from polyprompt.cli import cli
from sdk_clients import Wire, make_client

TARGETS = ["openai-chat", "openai-responses", "openai-compatible", "anthropic", "gemini", "vertex",
           "bedrock-converse", "mistral", "ollama"]
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
PDF = "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDw+PgolJUVPRgo="
#: prompts that reach every field the emitters write: each setting, tools with a rich schema, an
#: output type, inline media (in a tool result too); and two declared targets (a compatible server, Vertex with a project)
RICH = '''
target local "openai-compatible" { base_url: "http://127.0.0.1:8080/v1" }
target gcp "vertex" { project: "my-project", location: "europe-west4" }

enum Priority { low, high }

type Address {
  street: str
  city: str
}

type Answer {
  summary: str
  priority: Priority
  tags: list[str]
  score?: float
}

tool lookup(order_id: str, limit: int = 5, address?: Address) "Look up an order."

prompt rich(question: str, photo: image) -> Answer {
  model "m" { temperature: 0.5, top_p: 0.9, top_k: 40, max_tokens: 300, stop: ["END"], seed: 7, presence_penalty: 0.1, frequency_penalty: 0.2 }
  tools lookup
  system "You answer."
  user { "{{ question }}" image(photo) }
}

prompt thinking(question: str) {
  model "m" { max_tokens: 4000, reasoning_tokens: 2048 }
  user "{{ question }}"
}

prompt effort(question: str) {
  model "m" { reasoning: "low" }
  user "{{ question }}"
}

prompt document(report: file) {
  user { "Summarize:" file(report) }
}

prompt tool_media(photo: image) {
  tools lookup
  user "Which order is this parcel?"
  tool_call lookup(order_id = "A1") id "call_1"
  tool_result lookup id "call_1" { "The parcel of A1:" image(photo) }
  user "Does it match?"
}
'''
RICH_INPUTS = {"rich": {"question": "Where is A1?", "photo": f"data:image/png;base64,{PNG}"},
               "thinking": {"question": "Why?"}, "effort": {"question": "Why?"},
               "document": {"report": f"data:application/pdf;base64,{PDF}"},
               "tool_media": {"photo": f"data:image/png;base64,{PNG}"}}
#: the declared targets of RICH, by the target kind they configure
DECLARED = {"openai-compatible": "local", "vertex": "gcp"}


@functools.cache
def rich_file() -> Path:
    """RICH in a file of its own (the compiles are cached across tests), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="pp-sdk-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "rich.prompt").write_text(RICH)
    return folder / "rich.prompt"


def cases() -> list[tuple[str, str]]:
    """(target, case) pairs: an example's stem, or `rich:<prompt>`, `rich:<prompt>@<declared target>`."""
    out = []
    for target in TARGETS:
        out += [(target, path.stem) for path in sorted(EXAMPLES.glob("*.prompt"))]
        out += [(target, f"rich:{name}") for name in RICH_INPUTS]
        if target in DECLARED:
            out += [(target, f"rich:{name}@{DECLARED[target]}") for name in RICH_INPUTS]
    return out


@functools.cache
def compiled(target: str, case: str):
    """The compile of a case for a target, or None when the target cannot express it."""
    if case.startswith("rich:"):
        prompt, _, declared = case[5:].partition("@")
        pf, name, inputs = polyprompt.load(rich_file()), declared or target, RICH_INPUTS[prompt]
    else:
        pf, name, prompt = polyprompt.load(EXAMPLES / f"{case}.prompt"), target, None
        inputs = json.loads((EXAMPLES / f"{case}.input.json").read_text())
    try:
        return pf.compile(name, prompt=prompt, inputs=inputs)
    except polyprompt.CompileError:
        return None


def send(c, wire: Wire):
    """Make the SDK call of a compile through its SDK's client on `wire`; the SDK's response."""
    call = c.sdk_call()
    client = make_client(type(c.backend).name, wire, c.backend.options)
    method = client
    for name in call.method.split("."):
        method = getattr(method, name)
    return method(**c.sdk_kwargs)


@pytest.mark.parametrize("target,case", cases())
def test_the_sdk_sends_the_body(target, case):
    c = compiled(target, case)
    if c is None:
        pytest.skip(f"{case} does not compile for {target}")
    wire = Wire(backends.get(target).sample_reply)
    response = send(c, wire)
    assert wire.json is not None, "the SDK sent nothing"
    check_wire(target, c, wire)
    reading = polyprompt.parse(c.backend, response)  # the SDK's response object reads as its JSON
    assert reading == polyprompt.parse(c.backend, wire.reply) and reading.text == "Hello."


def check_wire(target: str, c, wire: Wire) -> None:
    """The request on the wire is the body, modulo the SDK's own changes listed in the docstring."""
    body, sent = c.body, wire.json
    if target in ("gemini", "vertex"):
        model, body = backends.get(target).split(body)
        assert wire.url == google_url(target, model), "the model goes in the URL"
        sent = rest_names(sent)
        if "generationConfig" not in body:  # on Vertex, a config of tools alone still sends one
            assert sent.pop("generationConfig", {}) == {}
    elif target == "bedrock-converse":
        model, body = backends.get(target).split(body)
        assert wire.url == f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{urllib.parse.quote(model, safe='')}/converse"
    elif target == "mistral":
        sent = without_mistral_defaults(sent, body)
    elif target == "ollama":
        sent = with_ollama_drops_restored(sent, body, c.sdk_call())
    elif target == "openai-compatible":
        assert wire.url == (c.backend.options.get("base_url") or DEFAULT_BASE_URL) + "/chat/completions"
    else:
        path = {"openai-chat": "/v1/chat/completions", "openai-responses": "/v1/responses", "anthropic": "/v1/messages"}
        assert urllib.parse.urlsplit(wire.url).path == path[target]
    assert sent == body


def google_url(target: str, model: str) -> str:
    """The URL of a Gemini or Vertex body: the API version it is written for, the model's path."""
    if target == "vertex":
        return backends.get("vertex").url({"model": model})
    return f"https://generativelanguage.googleapis.com/v1beta/{model}:generateContent"


#: free-form JSON in a Gemini body (tool arguments and results, schemas): names in it are the user's
GOOGLE_FREE_FORM = {"args", "response", "parametersJsonSchema", "responseJsonSchema"}


def rest_names(node, free: bool = False):
    """google-genai's snake_case field names (`file_uri`) back to the REST names (`fileUri`), and its
    URL-safe base64 of inline data back to the standard alphabet (the API reads both)."""
    if isinstance(node, list):
        return [rest_names(x, free) for x in node]
    if not isinstance(node, dict) or free:
        return node
    out = {}
    for key, value in node.items():
        name = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)
        out[name] = rest_names(value, name in GOOGLE_FREE_FORM)
        if name == "inlineData":
            out[name]["data"] = base64.b64encode(base64.urlsafe_b64decode(value["data"])).decode()
    return out


def without_mistral_defaults(sent: dict, body: dict) -> dict:
    """mistralai's defaults taken out where the body has no such field: `stream: false`, an assistant
    message's `prefix: false`, a tool call's `index: 0`."""
    sent = json.loads(json.dumps(sent))
    if "stream" not in body:
        assert sent.pop("stream") is False
    for mine, theirs in zip(sent["messages"], body["messages"]):
        if mine["role"] == "assistant" and "prefix" not in theirs:
            assert mine.pop("prefix") is False
        for call, own in zip(mine.get("tool_calls") or (), theirs.get("tool_calls") or ()):
            if "index" not in own:
                assert call.pop("index") == 0
    return sent


def with_ollama_drops_restored(sent: dict, body: dict, call: SdkCall) -> dict:
    """ollama's changes undone, after checking them: `tools: []`, empty message fields, and the tool
    schema keywords it drops, which must be exactly those the call's notes name."""
    sent = json.loads(json.dumps(sent))
    if "tools" not in body:
        assert sent.pop("tools") == []
    for mine, theirs in zip(sent["messages"], body["messages"]):
        for key, value in theirs.items():
            if not value and key not in mine:
                mine[key] = value
    for i, (mine, theirs) in enumerate(zip(sent.get("tools") or (), body.get("tools") or ())):
        params, own = mine["function"]["parameters"], theirs["function"]["parameters"]
        lost = sorted(missing(params, own))
        assert lost == sorted(dropped(own)), f"tool {i}: the client dropped {lost}"
        for path in lost:
            assert path in " ".join(call.notes)
        mine["function"]["parameters"] = own
    return sent


def missing(sent: dict, body: dict) -> list[str]:
    """The keywords of a tool's parameters (`additionalProperties`), and of its properties
    (`properties.limit.default`), that `sent` lacks; what it kept must be unchanged."""
    out = [key for key in body if key not in sent]
    for key in set(body) & set(sent) - {"properties"}:
        assert sent[key] == body[key], f"{key} changed"
    for name, prop in (body.get("properties") or {}).items():
        kept = sent["properties"][name]
        out += [f"properties.{name}.{key}" for key in prop if key not in kept]
        assert all(kept[key] == prop[key] for key in kept), f"properties.{name} changed"
    return out


def test_every_example_reaches_the_sdks():
    """The matrix is not empty by accident: each target has examples that compile."""
    for target in TARGETS:
        compiled_cases = [case for t, case in cases() if t == target and compiled(t, case) is not None]
        assert len(compiled_cases) >= 12, (target, compiled_cases)


def test_the_named_parameters_are_the_sdks_own():
    """What the calls pass by name is a parameter of the installed SDK's method (the rest goes in
    `extra_body`): anthropic 2.x dropped `temperature`, `top_p` and `top_k` from `messages.create`."""
    from anthropic.resources.messages import Messages
    from openai.resources.chat.completions import Completions
    from openai.resources.responses import Responses

    from polyprompt.backends.sdk.anthropic import MESSAGES_PARAMS
    from polyprompt.backends.sdk.openai import CHAT_PARAMS, RESPONSES_PARAMS

    for names, method in [(CHAT_PARAMS, Completions.create), (RESPONSES_PARAMS, Responses.create),
                          (MESSAGES_PARAMS, Messages.create)]:
        assert names <= set(inspect.signature(method).parameters), method.__qualname__
    kwargs = compiled("anthropic", "rich:rich").sdk_kwargs
    assert kwargs["extra_body"] == {"temperature": 0.5, "top_p": 0.9, "top_k": 40}
    assert compiled("openai-compatible", "rich:rich").sdk_kwargs["extra_body"] == {"top_k": 40}
    assert "extra_body" not in compiled("openai-chat", "rich:rich").sdk_kwargs


def test_blobs_are_bytes_for_the_sdks_that_encode_them():
    """boto3 and google-genai base64-encode bytes themselves: the body's base64 text goes as bytes."""
    png = base64.b64decode(PNG)
    converse = compiled("bedrock-converse", "rich:rich").sdk_kwargs
    assert converse["messages"][0]["content"][1]["image"]["source"]["bytes"] == png
    gemini = compiled("gemini", "rich:rich").sdk_kwargs
    assert gemini["contents"][0]["parts"][1]["inlineData"]["data"] == png
    assert gemini["config"]["top_k"] == 40 and "generationConfig" not in gemini["config"]


def test_the_kwargs_share_nothing_with_the_body():
    c = compiled("openai-chat", "rich:rich")
    before = json.dumps(c.body)
    c.sdk_kwargs["messages"][0]["content"] = "changed"
    c.sdk_kwargs["model"] = "other"
    assert json.dumps(c.body) == before


def test_calling_an_sdk_call_makes_the_call():
    c = compiled("mistral", "rich:rich")
    wire = Wire(backends.get("mistral").sample_reply)
    response = c.sdk_call()(make_client("mistral", wire))
    assert polyprompt.parse("mistral", response).text == "Hello." and wire.json["model"] == "m"


def test_only_the_ollama_tool_schemas_get_notes():
    assert compiled("ollama", "rich:effort").sdk_call().notes == ()
    (note,) = compiled("ollama", "rich:rich").sdk_call().notes
    assert "additionalProperties, properties.limit.default, properties.address.$ref" in note
    assert "/api/chat" in note
    for target in TARGETS[:-1]:
        assert compiled(target, "rich:rich").sdk_call().notes == (), target


def target_name(target: str) -> str:
    """The name the CLI compiles RICH under: the declared target where there is one."""
    return DECLARED.get(target, target)


@pytest.mark.parametrize("target", TARGETS)
def test_the_cli_prints_a_call_that_sends_the_body(target, tmp_path):
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(RICH_INPUTS["rich"]))
    result = CliRunner().invoke(cli, ["compile", str(rich_file()), "-p", "rich", "-t", target_name(target),
                                      "-i", str(inputs), "--sdk"])
    assert result.exit_code == 0, result.output
    c = compiled(target, f"rich:rich@{DECLARED[target]}" if target in DECLARED else "rich:rich")
    call = c.sdk_call()
    assert f"client = {call.client}\n" in result.output and f"response = client.{call.method}(\n" in result.output
    wire = Wire(backends.get(target).sample_reply)
    source = result.output.replace(f"client = {call.client}\n", "client = CLIENT\n")
    scope = {"CLIENT": make_client(target, wire, c.backend.options)}
    exec(compile(source, "snippet.py", "exec"), scope)  # the printed Python, run as it is
    check_wire(target, c, wire)
    assert polyprompt.parse(c.backend, scope["response"]).text == "Hello."


@pytest.mark.parametrize("target", TARGETS)
def test_the_printed_client_is_made_by_the_installed_sdk(target, monkeypatch):
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.setenv(key, "k")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for case in ["rich:rich"] + ([f"rich:rich@{DECLARED[target]}"] if target in DECLARED else []):
        call = compiled(target, case).sdk_call()
        scope: dict = {}
        exec("\n".join(call.imports) + f"\nclient = {call.client}\n", scope)
        method = scope["client"]
        for name in call.method.split("."):
            method = getattr(method, name)
        assert callable(method), (target, call.method)


def test_a_target_without_an_sdk_says_so(tmp_path):
    c = polyprompt.load(EXAMPLES / "ticket_triage.prompt").compile(
        "hf-family:qwen3", inputs=json.loads((EXAMPLES / "ticket_triage.input.json").read_text()))
    with pytest.raises(NoSdkCall, match="no provider SDK"):
        c.sdk_call()
    result = CliRunner().invoke(cli, ["compile", str(EXAMPLES / "ticket_triage.prompt"), "-t", "hf-family:qwen3",
                                      "-i", str(EXAMPLES / "ticket_triage.input.json"), "--sdk"])
    assert result.exit_code == 2 and "no provider SDK" in result.output


def test_the_docs_give_each_targets_call():
    """docs/sdk.md's table and each docs/targets.md section name the call `sdk_call` makes."""
    from helpers import REPO

    table = (REPO / "docs" / "sdk.md").read_text()
    targets_doc = (REPO / "docs" / "targets.md").read_text()
    for target in TARGETS:
        call = compiled(target, "rich:effort").sdk_call()
        (row,) = [line for line in table.splitlines() if line.startswith(f"| `{target}` |")]
        assert f".{call.method}(**result.sdk_kwargs)`" in row, target
        section = targets_doc.split(f"\n## {target}\n", 1)[1].split("\n## ", 1)[0]
        assert f"{call.method}(**result.sdk_kwargs)`" in " ".join(section.split()), target
