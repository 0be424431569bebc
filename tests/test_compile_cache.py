"""The compile cache: the same body and report from a fresh process, without parsing or the compiler."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import polyprompt
from polyprompt.compiler.inputs import InputError

PROMPT = '''
import "./style.prompt" { Tone }

prompt greet(name: str, items: list[str] = [], formal: bool = false) {
  model "gpt-4o-mini" { temperature: 0, top_k: 3 }
  system "Be {{ Tone.brief }}.{% if formal %} Be formal.{% end %}"
  for item in items {
    user "{{ item | upper }}"
    assistant "ok"
  }
  user "Hello {{ name }}"
}
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "style.prompt").write_text("enum Tone { brief, kind }\n")
    (tmp_path / "p.prompt").write_text(PROMPT)
    return tmp_path


def fresh(project, **inputs):
    return polyprompt.load(project / "p.prompt").compile("openai-chat", inputs=inputs)


def test_a_second_load_is_served_from_the_cache(project):
    first = fresh(project, name="Ada", items=["a", "b"], formal=True)
    assert first.made_by == "passes"
    second = fresh(project, name="Ada", items=["a", "b"], formal=True)
    assert second.made_by == "cache"
    assert second.body == first.body
    assert second.report == first.report and [d.code for d in second.report] == ["PP403"]
    assert second.request.messages == first.request.messages  # the IR, from a full compile on demand
    other = fresh(project, name="Bo")
    assert other.made_by == "cache" and other.body["messages"][-1] == {"role": "user", "content": "Hello Bo"}


def test_changed_sources_are_compiled_again(project):
    fresh(project, name="Ada")
    (project / "style.prompt").write_text("// the tones\nenum Tone { brief, kind }\n")
    again = fresh(project, name="Ada")
    assert again.made_by != "cache" and again.body["messages"][0]["content"] == "Be brief."
    (project / "p.prompt").write_text(PROMPT.replace("Hello", "Hi"))
    assert fresh(project, name="Ada").body["messages"][-1]["content"] == "Hi Ada"


def test_bad_inputs_and_strict_take_the_full_path(project):
    fresh(project, name="Ada")
    with pytest.raises(InputError):
        fresh(project, name=3)
    with pytest.raises(polyprompt.CompileError):
        polyprompt.load(project / "p.prompt").compile("openai-chat", {"name": "Ada"}, strict=True)


def test_off_switch_and_a_corrupt_cache(project, monkeypatch):
    fresh(project, name="Ada")
    monkeypatch.setenv("POLYPROMPT_CACHE", "0")
    assert fresh(project, name="Ada").made_by != "cache"
    monkeypatch.setenv("POLYPROMPT_CACHE", "1")
    for f in (project / "cache").glob("*.json"):
        f.write_text("{not json")
    assert fresh(project, name="Ada").body["messages"][-1]["content"] == "Hello Ada"


def test_a_hit_imports_neither_the_parser_nor_attrs(project):
    fresh(project, name="Ada")
    code = ("import sys, json, polyprompt; r = polyprompt.load(sys.argv[1]).compile('openai-chat', {'name': 'Ada'}); "
            "print(json.dumps([r.made_by, [m for m in ('lark', 'attrs', 'jinja2') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code, str(project / "p.prompt")], capture_output=True, text=True,
                         env={**os.environ, "POLYPROMPT_CACHE_DIR": str(project / "cache")}, check=True)
    assert json.loads(out.stdout) == ["cache", []]
