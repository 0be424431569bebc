"""One semantics for rendering: the first compile, every later compile and a compile served by the
compile cache give the same answer for any value (regressions of issue 10)."""
from __future__ import annotations

import collections

import pytest

import polyprompt

SOURCE = '''
type R { ok: bool }

prompt p(data: json, items: json, names: list[str] = []) -> R {
  model "gpt-4o-mini"
  user """
    {% if data == "x" %}EQ{% else %}NE{% end %} {{ items.a }} {{ items["a"] }}{% for n in names %} {{ n }}{% end %}
    {% if target == "openai" %}T{% end %}
    """
}
'''


@pytest.fixture
def prompt_path(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "p.prompt"
    path.write_text(SOURCE)
    return path


def every_way(path, **inputs):
    """The user message of the first compile, a later one in the same process, and a fresh load's."""
    first = polyprompt.load(path)
    texts = [first.compile("openai-chat", inputs=inputs).body["messages"][0]["content"],
             first.compile("openai-chat", inputs=inputs).body["messages"][0]["content"]]
    texts.append(polyprompt.load(path).compile("openai-chat", inputs=inputs).body["messages"][0]["content"])
    return texts


def test_json_shaped_like_a_target_is_data(prompt_path):
    """Was: `data == "x"` was false on the first compile and true on later ones and from the cache."""
    texts = every_way(prompt_path, data={"name": "y", "family": "x", "kind": "api"}, items={"a": "A"})
    assert texts == ["NE A A\nT"] * 3


def test_dict_subclasses_keep_their_fields(prompt_path):
    """Was: an OrderedDict input lost its fields after the first compile."""
    items = collections.OrderedDict(a="A")
    texts = every_way(prompt_path, data=collections.OrderedDict(k=1), items=items,
                      names=("n",))
    assert texts == ["NE A A n\nT"] * 3


def test_non_json_values_are_input_errors(prompt_path):
    from polyprompt.compiler.inputs import InputError

    pf = polyprompt.load(prompt_path)
    for bad in ({1, 2}, b"bytes", {"when": __import__("datetime").date(2024, 1, 1)}):
        with pytest.raises(InputError, match="not a JSON value"):
            pf.compile("openai-chat", {"data": bad, "items": {}})


def test_bodies_share_no_mutable_part(prompt_path):
    """Was: editing a returned body changed every later body (the cached parts were shared)."""
    pf = polyprompt.load(prompt_path)
    for _ in range(2):  # the first compile (general path), then the generated path
        body = pf.compile("openai-chat", {"data": 1, "items": {"a": "A"}}).body
        body["response_format"]["json_schema"]["name"] = "changed"
        body["response_format"]["json_schema"]["schema"]["properties"].clear()
        body["messages"].clear()
    fresh = polyprompt.load(prompt_path).compile("openai-chat", {"data": 1, "items": {"a": "A"}})  # from the cache
    fresh.body["response_format"]["json_schema"]["schema"]["properties"].clear()
    again = pf.compile("openai-chat", {"data": 1, "items": {"a": "A"}}).body
    assert again["response_format"]["json_schema"]["name"] != "changed"
    assert again["response_format"]["json_schema"]["schema"]["properties"] and again["messages"]


def test_inputs_are_not_shared_with_the_body(tmp_path):
    path = tmp_path / "t.prompt"
    path.write_text('tool lookup(ids: list[int])\n\nprompt p(ids: list[int]) {\n  tools lookup\n'
                    '  user "go"\n  tool_call lookup(ids = ids)\n}\n')
    ids = [1, 2]
    body = polyprompt.load(path).compile("anthropic", {"ids": ids}).body
    body["messages"][1]["content"][0]["input"]["ids"].append(3)
    assert ids == [1, 2]


def test_a_json_value_that_is_not_a_url_as_media_is_an_input_error(tmp_path):
    """Was: an internal error (TypeError inside the media reader) for `image(j.key)` with an object."""
    from polyprompt.compiler.inputs import InputError

    path = tmp_path / "m.prompt"
    path.write_text('prompt p(j: json) {\n  user { "look:" image(j.key) }\n}\n')
    pf = polyprompt.load(path)
    with pytest.raises(InputError, match=r"j\.key: used as image: expected a URL or a data: URI, got an object"):
        pf.compile("openai-chat", {"j": {"key": {"nested": 1}}})
    assert pf.compile("openai-chat", {"j": {"key": "https://example.com/a.png"}}).body["messages"][0]["content"][1] == {
        "type": "image_url", "image_url": {"url": "https://example.com/a.png"}}

