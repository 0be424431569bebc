"""Request-body fields of the prompt's own (issue 11 item 6): the `body` setting, `--body-field`
and `compile(..., extra_body=...)`: added as given and noted (PP415), checked against the
provider's request schema where it is known (PP304), never replacing a field polyprompt writes."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import polyprompt
import schemas
from helpers import REPO, compile_source
from request_fields import SOURCES, shipped_data

SHIPPED = REPO / "backends" / "request_fields.json"


def test_the_shipped_field_schemas_are_those_of_the_official_schemas(request):
    from polyprompt import backends

    owned = {t: backends.get(t)().owned_fields() for t in SOURCES}
    text = shipped_data(owned)
    if request.config.getoption("--update-goldens"):
        SHIPPED.write_text(text, encoding="utf-8")
    assert SHIPPED.read_text(encoding="utf-8") == text


PROMPT = '''
target batch "openai-chat" {
  model "gpt-4o" { temperature: 0.3, body: { service_tier: "flex" } }
}

prompt p(q: str) {
  target "openai-chat" {
    model { body: { logprobs: true, top_logprobs: 3 } }
  }
  target "anthropic" {
    model { max_tokens: 300, body: { metadata: { user_id: "u-1" } } }
  }
  user "{{ q }}"
}
'''


def compile_text(tmp_path, target, text=PROMPT, **kwargs):
    path = tmp_path / "p.prompt"
    path.write_text(text)
    return polyprompt.load(path).compile(target, inputs={"q": "hi"}, **kwargs)


def test_body_fields_in_a_target_block_are_added_noted_and_valid(tmp_path):
    r = compile_text(tmp_path, "openai-chat")
    assert r.body["logprobs"] is True and r.body["top_logprobs"] == 3
    assert [(d.code, d.message.split(" added")[0]) for d in r.report] == [
        ("PP415", "body field `logprobs`"), ("PP415", "body field `top_logprobs`")]
    assert schemas.errors("openai", "CreateChatCompletionRequest", r.body) == []
    r = compile_text(tmp_path, "anthropic")
    assert r.body["metadata"] == {"user_id": "u-1"} and "logprobs" not in r.body
    assert schemas.errors("anthropic", "CreateMessageParams", r.body) == []


def test_a_declared_target_applies_its_settings_and_body_under_the_prompts(tmp_path):
    text = PROMPT.replace('model { body: { logprobs: true, top_logprobs: 3 } }', 'model { max_tokens: 40 }')
    r = compile_text(tmp_path, "batch", text)
    assert r.body["service_tier"] == "flex" and r.body["temperature"] == 0.3
    assert r.body["max_completion_tokens"] == 40
    # the prompt's own `body` replaces the declaration's, as every setting does
    r = compile_text(tmp_path, "batch")
    assert "service_tier" not in r.body and r.body["logprobs"] is True


def test_body_field_notes_are_not_lowerings_for_strict(tmp_path):
    r = compile_text(tmp_path, "openai-chat", strict=True)
    assert r.body["logprobs"] is True


@pytest.mark.parametrize("body, message, help", [
    ('{ top_logprob: 3 }', "openai-chat's request (`CreateChatCompletionRequest`) has no field `top_logprob`",
     "did you mean `top_logprobs`?"),
    ('{ logprobs: "yes" }', '`logprobs` takes boolean or null, got "yes"', "openai-chat's API reference"),
    ('{ service_tier: "turbo" }', '`service_tier` takes "auto" or "default" or "flex"', "API reference"),
    ('{ messages: [] }', "`messages` is written by polyprompt on openai-chat", "the prompt's turns"),
    ('{ max_completion_tokens: 5 }', "`max_completion_tokens` is written by polyprompt", "the `max_tokens` setting"),
])
def test_refused_body_fields_name_the_field(tmp_path, body, message, help):
    text = f'prompt p(q: str) {{\n  model {{ body: {body} }}\n  user "{{{{ q }}}}"\n}}\n'
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, "openai-chat", text)
    [d] = err.value.diagnostics
    assert d.code == "PP304" and message in d.message and help in d.help
    assert d.span.text in body  # the field's name in the source


def test_a_body_setting_must_be_a_record(tmp_path):
    text = 'prompt p(q: str) {\n  model { body: "logprobs" }\n  user "{{ q }}"\n}\n'
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, "openai-chat", text)
    assert [d.code for d in err.value.diagnostics] == ["PP229"]


def test_extra_body_from_the_api(tmp_path):
    r = compile_text(tmp_path, "openai-responses", extra_body={"service_tier": "flex", "metadata": {"run": "7"}})
    assert r.body["service_tier"] == "flex" and r.body["metadata"] == {"run": "7"}
    assert [d.code for d in r.report][-2:] == ["PP415", "PP415"]
    assert r.report[-1].span.file.path == "<extra_body>"
    assert schemas.response_errors(r.body) == []
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, "openai-responses", extra_body={"service_teir": "flex", "input": "x", "n": {1}})
    found = sorted((d.code, d.message) for d in err.value.diagnostics)
    assert [code for code, _ in found] == ["PP304"] * 3
    assert any("no field `service_teir`" in m for _, m in found) and any("`input` is written" in m for _, m in found)
    assert any("`n` is not JSON" in m for _, m in found)


def test_extra_body_cannot_replace_a_field_the_source_added(tmp_path):
    with pytest.raises(polyprompt.CompileError) as err:
        compile_text(tmp_path, "openai-chat", extra_body={"logprobs": False})
    [d] = err.value.diagnostics
    assert d.code == "PP304" and "`logprobs`" in d.message


def test_targets_without_a_known_schema_take_fields_unchecked_but_never_replace_one(tmp_path):
    r = compile_text(tmp_path, "gemini", extra_body={"safetySettings": []})
    assert r.body["safetySettings"] == [] and "not checked" in r.report[-1].message
    with pytest.raises(polyprompt.CompileError) as err:  # a field the gemini emitter writes itself
        compile_text(tmp_path, "gemini", extra_body={"contents": []})
    assert [d.code for d in err.value.diagnostics] == ["PP304"]
    r = compile_text(tmp_path, "openai-compatible", extra_body={"repetition_penalty": 1.1})  # vLLM's own
    assert r.body["repetition_penalty"] == 1.1


def test_body_fields_from_the_command_line(tmp_path):
    from polyprompt.cli import cli

    path = tmp_path / "p.prompt"
    path.write_text('prompt p() {\n  user "hi"\n}\n')
    runner = CliRunner()
    out = runner.invoke(cli, ["compile", str(path), "-t", "anthropic", "--body-field", 'metadata={"user_id": "u"}',
                              "--body-field", 'service_tier="auto"', "--explain"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["metadata"] == {"user_id": "u"} and body["service_tier"] == "auto"
    assert "info[PP415]: body field `service_tier` added" in out.stderr
    bad = runner.invoke(cli, ["compile", str(path), "-t", "anthropic", "--body-field", "service_tier=auto"])
    assert bad.exit_code == 2 and "not JSON" in bad.stderr and "service_tier='\"auto\"'" in bad.stderr
    wrong = runner.invoke(cli, ["compile", str(path), "-t", "anthropic", "--body-field", "metadata={}",
                                "--body-field", "top_k=3"])
    assert wrong.exit_code == 1 and "error[PP304]: `top_k` is written by polyprompt" in wrong.stderr


def test_an_open_model_target_has_no_request_body(tmp_path):
    text = 'prompt p(q: str) {\n  model { body: { logprobs: true } }\n  user "{{ q }}"\n}\n'
    r = compile_text(tmp_path, "hf-family:qwen3", text, extra_body={"n": 2})
    assert "logprobs" not in r.body and "n" not in r.body
    dropped = [d.message for d in r.report if d.code == "PP403"]
    assert dropped == ["body field `logprobs` dropped: hf-family:qwen3 has no request body",
                       "body field `n` dropped: hf-family:qwen3 has no request body"]
