"""The IR printer (compiler/ir_printer.py): every piece of a Request shown, exactly and deterministically."""
from __future__ import annotations

import json

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


def test_no_model_and_an_unchanged_original_are_not_noise():
    out = ir.Output(name="p", type=T.JSON, schema={"type": "object"}, original={"type": "object"})
    text = format_request(ir.Request(prompt="p", target="t", model=None, messages=(), output=out))
    assert text.splitlines() == ["request p -> t", "model none", "output p: json", '  schema {"type": "object"}']


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
