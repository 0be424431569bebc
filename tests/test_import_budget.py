"""The import budget of each command: what it may load (docs/install.md).

Each case runs a command in a fresh interpreter, through the console script's path and through the
Python API, and fails when a module of an extra the command does not need was loaded: the core
install (`pip install polyprompt`) must check and compile for API targets, and fast. The failure
message lists every third-party module the command loaded and the lines that imported the heavy ones.
"""
from __future__ import annotations

import json

import pytest

from fresh_process import HEAVY, fresh
from helpers import EXAMPLES

EXAMPLE = EXAMPLES / "ticket_triage.prompt"
INPUTS = EXAMPLES / "ticket_triage.input.json"
#: What compiling for an open model may load: the models extra without its bulk engine.
MODELS = {"jinja2", "tokenizers", "tiktoken"}


def assert_loads_only(result, allowed: set[str] = frozenset()) -> None:
    assert result.returncode == 0, result.describe()
    extra = sorted(set(result.heavy()) - allowed)
    assert not extra, f"loaded {extra}, which this command does not need\n{result.describe()}"


def api_compile(target: str, path=EXAMPLE, inputs=INPUTS) -> str:
    return (f"import json, polyprompt\nvalues = json.loads(open({str(inputs)!r}).read())\n"
            f"body = polyprompt.load({str(path)!r}).compile({target!r}, inputs=values).body\n"
            "assert body, body\n")


def test_check_loads_no_extra():
    assert_loads_only(fresh(cli=["check", str(EXAMPLES)]))
    assert_loads_only(fresh(code=f"import polyprompt\nassert not polyprompt.check([{str(EXAMPLES)!r}])"))


def test_fmt_and_targets_load_no_extra():
    assert_loads_only(fresh(cli=["fmt", "--check", str(EXAMPLES)]))
    assert_loads_only(fresh(cli=["targets", "--format", "json"]))


@pytest.mark.parametrize("target", ["openai-chat", "anthropic"])
def test_compile_for_an_api_target_loads_no_extra(target):
    result = fresh(cli=["compile", str(EXAMPLE), "-t", target, "-i", str(INPUTS)])
    assert_loads_only(result)
    assert "messages" in json.loads(result.stdout)
    assert_loads_only(fresh(code=api_compile(target)))


@pytest.mark.parametrize("target", ["anthropic", "gemini", "bedrock-converse", "ollama"])
def test_the_sdk_call_and_reading_replies_load_no_sdk(target):
    """`compile --sdk`, `sdk_call()` and `parse` know the SDKs without importing one (docs/sdk.md)."""
    result = fresh(cli=["compile", str(EXAMPLE), "-t", target, "-i", str(INPUTS), "--sdk"])
    assert_loads_only(result)
    assert "response = client." in result.stdout
    code = (f"import json, polyprompt\nvalues = json.loads(open({str(INPUTS)!r}).read())\n"
            f"compiled = polyprompt.load({str(EXAMPLE)!r}).compile({target!r}, inputs=values)\n"
            "assert compiled.sdk_call().source() and compiled.sdk_kwargs\n"
            f"reply = polyprompt.backends.get({target!r}).sample_reply\n"
            f"assert polyprompt.parse({target!r}, reply).text == 'Hello.'\n")
    assert_loads_only(fresh(code=code))


@pytest.mark.parametrize("target", ["hf-family:qwen3", "hf-family:gemma-2"])
def test_compile_for_an_open_model_loads_templates_and_tokenizers_only(target):
    """jinja2 renders, tokenizers and tiktoken give token ids; never torch, transformers or numpy."""
    result = fresh(cli=["compile", str(EXAMPLE), "-t", target, "-i", str(INPUTS)])
    assert_loads_only(result, MODELS)
    assert "jinja2" in result.modules and json.loads(result.stdout)["prompt"]
    assert_loads_only(fresh(code=api_compile(target)), MODELS)


def test_the_bulk_engine_adds_fastokens_only(tmp_path):
    source = tmp_path / "bulk.prompt"
    source.write_text('target many "hf-family:qwen3" { tokenizer: "bulk" }\n\n'
                      'prompt hello(name: str) {\n  user "Hi {{ name }}"\n}\n')
    inputs = tmp_path / "bulk.json"
    inputs.write_text('{"name": "Ada"}')
    assert_loads_only(fresh(cli=["compile", str(source), "-t", "many", "-i", str(inputs)]), MODELS | {"fastokens"})


def test_checking_target_declarations_loads_no_extra(tmp_path):
    """`check` validates `hf-family:` names from the family table alone: no template, no tokenizer."""
    source = tmp_path / "targets.prompt"
    source.write_text('target t "hf-family:gemma-3" { date: "2024-01-01" }\n'
                      'target local "hf:models/mine" { date: "2024-01-01" }\n'
                      'target fast "openai-chat" { caps { structured_output: "none" } }\n\n'
                      'prompt hello(name: str) {\n  user "Hi {{ name }}"\n}\n')
    result = fresh(cli=["check", str(source)])
    assert_loads_only(result)
    assert "0 errors, 0 warnings" in result.stderr
    assert_loads_only(fresh(code=f"import polyprompt\nassert not polyprompt.check([{str(source)!r}])"))


def test_the_failure_message_names_the_importer():
    """A regression is easy to read: the message says which repository line imported a heavy module."""
    result = fresh(code="from polyprompt.backends.hf.chat_template import render")
    assert "jinja2" in result.heavy()
    assert "backends/hf/chat_template/render.py" in result.first["jinja2"][-1]
    assert "jinja2 first imported from backends/hf/chat_template/render.py" in result.describe()
    assert set(HEAVY) >= {"torch", "transformers", "jinja2", "tiktoken", "fastokens"}
