"""Inputs: every problem listed at once with its path, defaults applied, files inlined."""
from __future__ import annotations

import base64

import pytest

import polyprompt
from polyprompt.compiler.inputs import InputError, read_inputs

PROMPT = '''
enum Category { billing, bug }
type Shot { ticket: str, category: Category, tags?: list[str] }
prompt p(ticket: str, n: int = 3, shots: list[Shot] = [], unit: "c" | "f" = "c", photo: image? = null,
         history: messages = []) {
  user "{{ ticket }}{{ n }}{{ unit }}{{ shots | json }}"
  user { image(photo) }
  history
}
'''


@pytest.fixture
def pf(tmp_path):
    path = tmp_path / "p.prompt"
    path.write_text(PROMPT)
    return polyprompt.load(path)


def test_defaults_are_applied(pf):
    values = pf.check_inputs(pf.prompt(), {"ticket": "x"})
    assert values == {"ticket": "x", "n": 3, "shots": [], "unit": "c", "photo": None, "history": []}


def test_every_problem_is_listed(pf):
    with pytest.raises(InputError) as err:
        pf.check_inputs(pf.prompt(), {
            "n": "three", "extra": 1, "unit": "k",
            "shots": [{"ticket": "a", "category": "billing"}, {"ticket": 1, "category": "refund", "more": True}],
            "history": [{"role": "robot", "content": "x"}, {"role": "tool", "content": "y"}],
        })
    found = {str(p) for p in err.value.problems}
    assert found == {
        "extra: prompt `p` has no parameter `extra`",
        "ticket: missing (a `str`)",
        "n: expected `int`, got a string",
        "shots[1].more: `Shot` has no field `more`",
        "shots[1].ticket: expected `str`, got a number",
        "shots[1].category: `refund` is not a member of `Category` (billing, bug)",
        'unit: "k" is not one of "c" | "f"',
        "history[0].role: must be one of system, developer, user, assistant, tool",
        "history[1].tool_call_id: a tool message needs the id of its call",
    }


def test_inputs_files_inline_local_media(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16
    (tmp_path / "cat.png").write_bytes(png)
    (tmp_path / "in.yaml").write_text("ticket: hi\nphoto: cat.png\nurl: https://example.com/x.png\n")
    values = read_inputs(tmp_path / "in.yaml")
    assert values["photo"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert values["url"] == "https://example.com/x.png"
    with pytest.raises(InputError):
        (tmp_path / "bad.json").write_text("[1, 2]")
        read_inputs(tmp_path / "bad.json")


def test_history_turns_are_spliced_as_data(pf):
    history = [{"role": "user", "content": "earlier"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "c1", "type": "function", "function": {"name": "t", "arguments": "{\"a\": 1}"}}]},
               {"role": "tool", "tool_call_id": "c1", "content": "done"}]
    body = pf.compile("openai-chat", ticket="x", history=history).body
    assert [m["role"] for m in body["messages"]] == ["user", "user", "assistant", "tool"]
    assert body["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"a":1}'
