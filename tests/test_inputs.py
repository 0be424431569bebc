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
        "extra: prompt `p` has no parameter `extra`; parameters: ticket, n, shots, unit, photo, history",
        "ticket: missing (a `str`)",
        "n: expected `int`, got a string",
        "shots[1].more: `Shot` has no field `more`",
        "shots[1].ticket: expected `str`, got a number",
        "shots[1].category: `refund` is not a member of `Category` (billing, bug)",
        'unit: "k" is not one of "c" | "f"',
        "history[0].role: must be one of system, developer, user, assistant, tool",
        "history[1].tool_call_id: a tool message needs the id of its call",
    }


def test_inputs_files_inline_local_media(pf, tmp_path):
    """A local file named where the prompt takes media (`photo: image?`) is inlined; a URL is kept."""
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16
    (tmp_path / "cat.png").write_bytes(png)
    (tmp_path / "in.yaml").write_text("ticket: hi\nphoto: cat.png\n")
    values = pf.read_inputs(tmp_path / "in.yaml")
    assert values["photo"] == "data:image/png;base64," + base64.b64encode(png).decode()
    (tmp_path / "url.yaml").write_text("ticket: hi\nphoto: https://example.com/x.png\n")
    assert pf.read_inputs(tmp_path / "url.yaml")["photo"] == "https://example.com/x.png"
    with pytest.raises(InputError):
        (tmp_path / "bad.json").write_text("[1, 2]")
        read_inputs(tmp_path / "bad.json")


def test_history_turns_are_spliced_as_data(pf):
    history = [{"role": "user", "content": "earlier"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "c1", "type": "function", "function": {"name": "t", "arguments": "{\"a\": 1}"}}]},
               {"role": "tool", "tool_call_id": "c1", "content": "done"}]
    body = pf.compile("openai-chat", {"ticket": "x", "history": history}).body
    assert [m["role"] for m in body["messages"]] == ["user", "user", "assistant", "tool"]
    assert body["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"a":1}'


@pytest.mark.parametrize("name, content, message", [
    ("missing.json", None, "missing.json: cannot be read (No such file or directory)"),
    ("latin1.json", b'{"ticket": "caf\xe9"}', "latin1.json: is not UTF-8 text: byte 0xe9 at offset 15"),
    ("broken.json", b'{"ticket": [1,', "broken.json:1:15: is not valid JSON: Expecting value"),
    ("broken.yaml", b"ticket: [a, b\nn: 1\n", "broken.yaml:2:2: is not valid JSON or YAML: expected ',' or ']', but got"),
    ("list.json", b"[1, 2]", "list.json: must be a JSON or YAML object of parameter values"),
    ("self.yaml", b"ticket: &a [*a]\n", "self.yaml:1:13: is not valid JSON or YAML: an alias (*a): inputs take no "
                                        "YAML aliases"),
    ("laughs.yaml", b"a: &a [x, x]\nb: &b [*a, *a]\nticket: [*b, *b]\n", "laughs.yaml:2:8: is not valid JSON or YAML: "
                                                                       "an alias (*a): inputs take no YAML aliases"),
    ("deep.json", b"[" * 5000 + b"]" * 5000, "deep.json: nests deeper than 100 levels"),
    ("deep2.json", b'{"ticket": ' + b"[" * 150 + b"]" * 150 + b"}", "ticket" + "[0]" * 100 + ": nests deeper than 100"),
    ("half.json", b'{"ticket": "a \\ud800 b", "shots": [{"\\udfff": "x"}], "ok": "\\ud83d\\ude00"}',
     "ticket: holds U+D800, half of a surrogate pair, at character 2: not Unicode text\n"
     "  shots[0].\udfff: holds U+DFFF, half of a surrogate pair, at character 0: not Unicode text"),
])
def test_a_bad_inputs_file_is_one_clear_error(tmp_path, name, content, message):
    """Every way an inputs file can be wrong gives InputError naming the file or the value, never a
    traceback or a hang (YAML aliases can make self-containing or exponentially large data); a whole
    surrogate pair (an emoji) is one character and fine."""
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError) as err:
        read_inputs(tmp_path / name)
    text = str(err.value)
    assert text.startswith("invalid inputs:\n  ")
    assert message in text.replace(f"{tmp_path}/", "")


def test_stdin_bytes_are_read_as_utf8():
    assert read_inputs("-", '{"ticket": "😀"}'.encode()) == {"ticket": "😀"}
    with pytest.raises(InputError, match="stdin: is not UTF-8 text"):
        read_inputs("-", b"\xff")


def test_half_a_surrogate_pair_in_a_python_input_is_an_input_error(pf):
    """Through the Python API too (the generated quick check and the full check): every `str` value,
    record fields and message contents included; an emoji (a whole pair) is fine."""
    assert pf.check_inputs(pf.prompt(), {"ticket": "ok 😀"})["ticket"] == "ok 😀"
    with pytest.raises(InputError) as err:
        pf.compile("openai-chat", inputs={"ticket": "a\ud800", "shots": [{"ticket": "\udfff", "category": "bug"}],
                                          "history": [{"role": "user", "content": "x\ud83d"}]})
    assert {str(p) for p in err.value.problems} == {
        "ticket: holds U+D800, half of a surrogate pair, at character 1: not Unicode text",
        "shots[0].ticket: holds U+DFFF, half of a surrogate pair, at character 0: not Unicode text",
        "history[0].content: holds U+D83D, half of a surrogate pair, at character 1: not Unicode text",
    }


def test_the_generated_quick_check_refuses_half_a_surrogate_pair():
    """The quick check (compiler/codegen/input_check.py) says no, so the full check runs and lists the problem."""
    from polyprompt.compiler import types as T
    from polyprompt.compiler.codegen.input_check import compile_check

    check = compile_check([("t", T.Prim("str"), True), ("tags", T.ListT(T.Prim("str")), False)])
    assert check({"t": "plain"}) and check({"t": "日本 😀", "tags": ["é"]})
    assert not check({"t": "a\ud800"}) and not check({"t": "ok", "tags": ["\udc00"]})


def test_json_values_are_unicode_text_and_not_too_deep(tmp_path):
    """A `json` parameter takes any JSON, but its strings (and keys) are text and it nests at most
    100 levels: through the quick check and the full check alike."""
    from polyprompt.compiler import types as T
    from polyprompt.compiler.codegen.input_check import compile_check

    check = compile_check([("data", T.JsonT(), True)])
    deep = "x"
    for _ in range(150):
        deep = [deep]
    assert check({"data": {"a": [1, "é", None, {"k": True}]}}) and check({"data": 3}) and check({"data": None})
    assert not check({"data": {"a": ["ok", "\ud800"]}}) and not check({"data": {"\udfff": 1}}) and not check({"data": deep})
    path = tmp_path / "j.prompt"
    path.write_text('prompt p(data: json) {\n  user "{{ data | json }}"\n}\n')
    pf = polyprompt.load(path)
    assert pf.compile("openai-chat", inputs={"data": {"a": [1, "é"]}}).body
    with pytest.raises(InputError) as err:
        pf.compile("openai-chat", inputs={"data": {"a": ["ok", "\ud800"]}})
    assert [str(p) for p in err.value.problems] == [
        "data.a[1]: holds U+D800, half of a surrogate pair, at character 0: not Unicode text"]
    with pytest.raises(InputError, match="nests deeper than 100 levels"):
        pf.compile("openai-chat", inputs={"data": deep})
