"""The IR printer (compiler/ir_printer.py): every piece of a Request shown, exactly and deterministically."""
from __future__ import annotations

import json

import attrs
import pytest

import polyprompt
from polyprompt.compiler import ir
from polyprompt.compiler import types as T
from polyprompt.compiler.ir_printer import WIDTH, format_request, format_text, layout

from helpers import EXAMPLES


def req(*messages, **kw) -> ir.Request:
    return ir.Request(prompt="p", target="anthropic", model="m-1", messages=tuple(messages), **kw)


def test_header_settings_tools_and_output():
    tool = ir.Tool(name="lookup", description="Find it.", parameters={"type": "object", "properties": {}})
    out = ir.Output(name="p", type=T.JSON, schema={"type": "object"}, original={"type": "string"}, wrapped="value")
    text = format_request(req(settings={"temperature": ir.Setting(value=0.5), "stop": ir.Setting(value=["x"])},
                              tools=(tool,), tools_cache="1h", output=out, budget=300))
    assert text == "\n".join([
        'request p -> anthropic',
        'model "m-1"',
        'budget 300',
        'setting temperature: 0.5',
        'setting stop: ["x"]',
        'tool lookup "Find it."',
        '  parameters {"type": "object", "properties": {}}',
        'tools cache=1h',
        'output p: json',
        '  schema {"type": "object"}',
        '  original {"type": "string"}',
        '  wrapped "value"',
    ])


def test_no_model_and_an_unchanged_original():
    out = ir.Output(name="p", type=T.JSON, schema={"type": "object"}, original={"type": "object"})
    text = format_request(ir.Request(prompt="p", target="t", model=None, messages=(), output=out))
    assert text.splitlines() == ["request p -> t", "model none", "output p: json", '  schema {"type": "object"}',
                                 "  original (the same)"]


def test_messages_with_flags_and_every_kind_of_part():
    call = ir.ToolCall(id="c1", name="lookup", arguments={"id": "A\n1"})
    result = ir.ToolResult(id="c1", name="lookup", is_error=True,
                           content=(ir.Text(text="not found"), ir.Media(kind="image", url="https://x/y.png")))
    messages = (
        ir.Message(role="system", parts=(ir.Text(text='Say "hi".\n\tThen stop.\n'),), cache="5m"),
        ir.Message(role="user", parts=(ir.Media(kind="image", data="aGVsbG8=", media_type="image/png"),),
                   priority=2, source="history"),
        ir.Message(role="assistant", parts=(call,)),
        ir.Message(role="tool", parts=(result,)),
        ir.Message(role="user", parts=()),
    )
    assert format_request(req(*messages)).splitlines()[2:] == [
        'system cache=5m',
        '  text "Say \\"hi\\".\\n"',
        '       "\\tThen stop.\\n"',
        'user priority=2 source=history',
        '  image image/png data (8 chars, sha256 333d6b3a)',
        'assistant',
        '  call c1 lookup {"id": "A\\n1"}',
        'tool',
        '  result c1 lookup error',
        '    text "not found"',
        '    image url "https://x/y.png"',
        'user',
        '  (no parts)',
    ]


@pytest.mark.parametrize("text", ["", "\n", "a", "a\n", "\na\n\nb", "x\r\ny\u2028z\x00"])
def test_text_pieces_join_back_to_the_text(text):
    lines = format_text(text, "text ")
    assert lines[0].startswith("text ") and all(line.startswith("     ") for line in lines[1:])
    assert "".join(json.loads(line[5:]) for line in lines) == text
    assert len(lines) == max(1, text.count("\n") + (not text.endswith("\n")))


def test_json_values_break_only_when_too_wide():
    small = {"a": [1, 2], "b": {"c": None}}
    assert layout(small, "  ", "x ") == ['  x {"a": [1, 2], "b": {"c": null}}']
    wide = {"k" * 10: "v" * 60, "list": ["w" * 50, "z" * 50], "n": 1}
    lines = layout(wide, "", "schema ")
    assert lines[0] == "schema {" and lines[-1] == "}" and all(len(line) <= WIDTH for line in lines)
    assert json.loads("".join(lines)[len("schema "):]) == wide


def test_every_example_prints_the_same_twice():
    for path in sorted(EXAMPLES.glob("*.prompt")):
        inputs = json.loads(path.with_suffix(".input.json").read_text())
        target = "gemini"  # takes every media kind of the examples
        pf = polyprompt.load(path)
        first = format_request(pf.compile(target, inputs=inputs).request)
        again = format_request(polyprompt.load(path).compile(target, inputs=inputs).request)
        assert first == again, path.name
        assert first.startswith(f"request {pf.prompts[0]} -> {target}\n")


def test_ids_and_names_that_are_not_one_word_are_quoted():
    call = ir.ToolCall(id="call 1", name="f", arguments={})
    result = ir.ToolResult(id="", name="f", content=())
    text = format_request(req(ir.Message(role="assistant", parts=(call,)), ir.Message(role="tool", parts=(result,))))
    assert text.splitlines()[3] == '  call "call 1" f {}' and text.splitlines()[5] == '  result "" f'
    target = format_request(ir.Request(prompt="p", target="hf-family:qwen3", model=None, messages=()))
    assert target.startswith("request p -> hf-family:qwen3\n")


def test_a_foreign_part_is_refused():
    with pytest.raises(TypeError, match="not an IR part"):
        format_request(req(ir.Message(role="user", parts=("text",))))


#: For each field of each IR class (those `==` compares), values to put in its place: every one must
#: change the print of `RICH`, and no two of them may print alike.
VARIANTS: dict = {
    ir.Text: {"text": ["", "a", "a\n", "\n", "a b", '"']},
    ir.Media: {"kind": ["audio", "file"], "url": [None, "u", "u "], "data": [None, "", "aGk="],
               "media_type": [None, "audio/wav"]},
    ir.ToolCall: {"id": ["c1", "c 1", ""], "name": ["g", "g h"], "arguments": [{}, {"a": None}, {"a": "null"}]},
    ir.ToolResult: {"id": ["c1", "c 1"], "name": ["g"], "is_error": [True, False], "content": [()]},
    ir.Message: {"role": ["user", "assistant"], "parts": [()], "cache": [None, "default", "1h"],
                 "priority": [None, 0, 1], "source": ["prompt", "history"]},
    ir.Tool: {"name": ["g"], "description": [None, "", "d"], "parameters": [{}, {"type": "object"}], "strict": [True]},
    ir.Output: {"name": ["q"], "schema": [{}, {"type": "string"}], "original": [None, {}, {"type": "object"}],
                "wrapped": [None, "value", "v"], "strict": [False]},
    ir.Setting: {"value": [None, 1, "1", 1.5, [1], {"a": 1}]},
    ir.Request: {"prompt": ["q", "p q"], "target": ["u"], "model": [None, "none", "m"], "budget": [None, 0, 10],
                 "tools_cache": [None, "default"], "tools": [()], "output": [None], "messages": [()],
                 "settings": [{}]},
}
VARIANTS[ir.Request]["settings"] += [{"stop": ir.Setting(value=v)} for v in VARIANTS[ir.Setting]["value"]]
RICH = ir.Request(
    prompt="p", target="t", model="m-1", budget=5, tools_cache="1h",
    settings={"stop": ir.Setting(value=["x"]), "top k": ir.Setting(value=2)},
    tools=(ir.Tool(name="f", description="Find.", parameters={"type": "object", "properties": {}}),),
    output=ir.Output(name="p", type=T.JSON, schema={"type": "object"}, original={"type": "array"}, wrapped="w"),
    messages=(
        ir.Message(role="system", parts=(ir.Text(text="S\n"),), cache="5m", priority=3, source="history"),
        ir.Message(role="tool", parts=(
            ir.Media(kind="image", url="https://x", data="ZGF0YQ==", media_type="image/png"),
            ir.ToolCall(id="k", name="f", arguments={"a": 1}),
            ir.ToolResult(id="k", name="f", content=(ir.Text(text="r"), ir.Media(kind="image", url="v"))),
        )),
    ))


def _sites(obj, path=()):
    """(path, owner, field name) of every field of `obj` and of the IR objects below it."""
    for name in sorted(VARIANTS[type(obj)]):
        yield path, obj, name
        value = getattr(obj, name)
        for i, item in enumerate(value if isinstance(value, tuple) else (value,)):
            if type(item) in VARIANTS:
                yield from _sites(item, path + ((name, i if isinstance(value, tuple) else None),))


def _replace(obj, path, name, value):
    """`obj` with the field `name` of the object at `path` set to `value`."""
    if not path:
        return attrs.evolve(obj, **{name: value})
    (field, i), rest = path[0], path[1:]
    child = getattr(obj, field)
    if i is None:
        return attrs.evolve(obj, **{field: _replace(child, rest, name, value)})
    return attrs.evolve(obj, **{field: child[:i] + (_replace(child[i], rest, name, value),) + child[i + 1:]})


def test_every_compared_field_of_the_ir_has_variants():
    for cls, variants in VARIANTS.items():
        compared = {f.name for f in attrs.fields(cls) if f.eq}
        assert set(variants) == compared, f"{cls.__name__}: give the new field variants here, and print it"


def test_requests_that_print_alike_are_equal():
    sites = list(_sites(RICH))
    assert {type(owner) for _, owner, _ in sites} == set(VARIANTS) - {ir.Setting}
    for path, owner, name in sites:
        requests = [RICH] + [_replace(RICH, path, name, v) for v in VARIANTS[type(owner)][name]]
        for a in requests:
            for b in requests:
                assert (format_request(a) == format_request(b)) == (a == b), (type(owner).__name__, name, a, b)
