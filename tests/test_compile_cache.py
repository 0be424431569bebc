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
        polyprompt.load(project / "p.prompt").compile("openai-chat", name="Ada", strict=True)


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
    code = ("import sys, json, polyprompt; r = polyprompt.load(sys.argv[1]).compile('openai-chat', name='Ada'); "
            "print(json.dumps([r.made_by, [m for m in ('lark', 'attrs', 'jinja2') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code, str(project / "p.prompt")], capture_output=True, text=True,
                         env={**os.environ, "POLYPROMPT_CACHE_DIR": str(project / "cache")}, check=True)
    assert json.loads(out.stdout) == ["cache", []]


def _plant(project, edit):
    """Change the stored records of p.prompt with `edit(data)`, keeping the file's place."""
    [path] = (project / "cache").glob("*.json")
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_a_planted_record_is_never_run(project):
    """The cache holds Python source that is run: a record the user's key did not sign is ignored."""
    fresh(project, name="Ada")

    def evil(data):
        for record in data["records"].values():
            record["render"] = "import os\nos.environ['PWNED'] = '1'\ndef render(inputs, target):\n    return []"

    _plant(project, evil)
    result = fresh(project, name="Ada")
    assert "PWNED" not in os.environ and result.made_by != "cache"
    assert result.body["messages"][-1]["content"] == "Hello Ada"


def test_a_record_with_a_recomputed_build_or_no_files_is_ignored(project):
    fresh(project, name="Ada")
    _plant(project, lambda data: data.update(files={}))
    assert fresh(project, name="Ada").made_by != "cache"


def test_a_folder_others_can_write_is_not_read(project):
    fresh(project, name="Ada")
    assert fresh(project, name="Ada").made_by == "cache"
    os.chmod(project / "cache", 0o777)
    assert fresh(project, name="Ada").made_by != "cache"
    os.chmod(project / "cache", 0o700)
    os.chmod(project / "cache" / ".key", 0o644)  # a key others can read signs nothing
    assert fresh(project, name="Ada").made_by != "cache"


def test_no_home_means_no_cache(project, monkeypatch):
    from polyprompt.session import cache

    monkeypatch.delenv("POLYPROMPT_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for home in ("", "~", "relative"):
        monkeypatch.setenv("HOME", home)
        assert cache.folder() is None and not cache.enabled()
    monkeypatch.delenv("HOME")
    assert cache.folder() is None or cache.folder().is_absolute()


def test_a_switched_symlinked_import_is_compiled_again(project):
    """The cache keyed on the files an import resolved to: switching the link served the old body
    (issue 12, item 10)."""
    (project / "style_a.prompt").write_text("enum Tone { brief, kind }\n")
    (project / "style_b.prompt").write_text("enum Tone { brief, kind }\n// b\n")
    (project / "style.prompt").unlink()
    (project / "style.prompt").symlink_to(project / "style_a.prompt")
    assert fresh(project, name="Ada").made_by == "passes"
    assert fresh(project, name="Ada").made_by == "cache"
    (project / "style.prompt").unlink()
    (project / "style.prompt").symlink_to(project / "style_b.prompt")
    assert fresh(project, name="Ada").made_by == "passes"
