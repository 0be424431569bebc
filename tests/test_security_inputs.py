"""Security regressions of inputs (issue 12, items 7, 8 and 9): inputs are data, never options,
never a role, never a value JSON cannot carry. See docs/security.md, "Data never changes the request"."""
from __future__ import annotations

import pytest

import polyprompt
from polyprompt.compiler.inputs import InputError
from test_render_semantics import every_way

OPTION_NAMES = """
prompt first(prompt: str, strict: bool, inputs: str) {
  user "{{ prompt }} {{ strict }} {{ inputs }}"
}

prompt second(x: str) {
  system "the other prompt"
  user "{{ x }}"
}
"""


def test_inputs_named_like_options_are_inputs(tmp_path):
    """`compile(target, **inputs)` took inputs named `prompt`, `inputs` or `strict` as options, so
    request data could pick another prompt of the file (issue 12, item 7)."""
    path = tmp_path / "p.prompt"
    path.write_text(OPTION_NAMES)
    body = polyprompt.load(path).compile("openai-chat", {"prompt": "second", "strict": True, "inputs": "z"}).body
    assert body["messages"] == [{"role": "user", "content": "second true z"}]


def test_inputs_are_one_mapping_never_keywords(tmp_path):
    path = tmp_path / "p.prompt"
    path.write_text(OPTION_NAMES)
    pf = polyprompt.load(path)
    with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
        pf.compile("openai-chat", **{"prompt": "second", "x": "data"})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="inputs must be a mapping"):
        pf.compile("openai-chat", [("x", "y")])  # type: ignore[arg-type]
    assert pf.compile("openai-chat", {"x": "y"}, prompt="second").body["messages"][0]["content"] == "the other prompt"


def test_a_parameter_named_target_wins(tmp_path, monkeypatch):
    """As in the checker, which types `target` as the parameter: the record replaced its value on
    every path (issue 12, item 9)."""
    monkeypatch.setenv("POLYPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "t.prompt"
    path.write_text("prompt p(target: str) {\n  user \"{{ target }}{% if target == 'x' %} X{% end %}\"\n"
                    "  target \"openai\" {\n    user \"for openai\"\n  }\n}\n")
    texts = every_way(path, target="x")
    assert texts == ["x X"] * 3
    assert [m["content"] for m in polyprompt.load(path).compile("openai-chat", inputs={"target": "y"}).body["messages"]] == [
        "y", "for openai"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_input_errors(tmp_path, bad):
    """NaN and infinities passed the input check and made invalid JSON bodies (issue 12, item 8)."""
    path = tmp_path / "n.prompt"
    path.write_text('prompt p(x: float, j: json) {\n  user "{{ x }} {{ j }}"\n}\n')
    pf = polyprompt.load(path)
    assert pf.compile("openai-chat", inputs={"x": 1.5, "j": [1.5]}).body["messages"][0]["content"] == "1.5 [1.5]"
    with pytest.raises(InputError, match=r"x: .* is not a number JSON can carry"):
        pf.compile("openai-chat", inputs={"x": bad, "j": 1})
    with pytest.raises(InputError, match=r"j\[0\]\.k: .* is not a number JSON can carry"):
        pf.compile("openai-chat", inputs={"x": 1.0, "j": [{"k": bad}]})


@pytest.mark.parametrize("name, text, message", [
    ("big.json", '{"n": ' + "9" * 5000 + "}", "an integer of more than 4,300 digits"),
    ("big.yaml", "n: " + "9" * 5000 + "\n", "an integer of more than 4,300 digits"),
    ("date.yaml", "n: !!timestamp 2024-13-45\n", "cannot be read: month must be in 1..12"),
])
def test_unreadable_values_of_an_inputs_file_are_input_errors(tmp_path, name, text, message):
    """They were internal errors (ValueError) (issue 12, item 14)."""
    from polyprompt.compiler.inputs import read_inputs

    (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=message):
        read_inputs(tmp_path / name)


def test_a_yaml_date_is_text(tmp_path):
    """YAML 1.1 read `2024-01-05` as a date, which no JSON value holds: it stays the text written."""
    from polyprompt.compiler.inputs import read_inputs

    (tmp_path / "d.yaml").write_text("day: 2024-01-05\nat: 2024-01-05 10:00:00\n")
    assert read_inputs(tmp_path / "d.yaml") == {"day": "2024-01-05", "at": "2024-01-05 10:00:00"}
