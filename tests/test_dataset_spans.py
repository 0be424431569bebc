"""Renders with `{% generation %}` spans by the compiled renderer (backends/hf/chat_template/spans.py)
give Jinja's text and spans, on every training template (the shipped ones and refdata's), across
single- and multi-turn, system-less, tool-call, reasoning, unicode and whitespace conversations;
an error is the same error."""
from __future__ import annotations

from pathlib import Path

import pytest

from polyprompt.backends.hf.chat_template import spans as spans_module
from polyprompt.backends.hf.chat_template.render import ChatTemplate

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(ROOT.glob("dataset/templates/*.jinja")) + sorted(
    (ROOT / "tests" / "data" / "refdata" / "chat_templates" / "training").glob("*.jinja"))

TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Find an order.", "parameters": {
    "type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}}}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": {"order": "A1"}}}

CONVERSATIONS = [
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"},
      {"role": "assistant", "content": "Hello."}], None),
    ([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "four"},
      {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "six"}], None),
    ([{"role": "user", "content": "  padded \n"}, {"role": "assistant", "content": "\n\n spaced  \n"}], None),
    ([{"role": "user", "content": "日本語 👍 \u2028 \x00"}, {"role": "assistant", "content": "約1400万人 ½"}], None),
    ([{"role": "user", "content": "think"}, {"role": "assistant", "content": "<think>\nhm\n</think>\n\nyes"}], None),
    ([{"role": "user", "content": "think"}, {"role": "assistant", "content": "yes", "reasoning_content": "hm"}], None),
    ([{"role": "user", "content": ""}, {"role": "assistant", "content": ""}], None),
    ([{"role": "user", "content": "<tool_response>x</tool_response>"}, {"role": "assistant", "content": "ok"}], None),
    ([{"role": "system", "content": "Tools."}, {"role": "user", "content": "Where is A1?"},
      {"role": "assistant", "content": "", "tool_calls": [CALL]},
      {"role": "tool", "tool_call_id": "call_1", "name": "lookup", "content": "shipped"},
      {"role": "assistant", "content": "It shipped."}], TOOLS),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}], None),
    ([{"role": "assistant", "content": "first"}], None),
]


def outcome(run):
    try:
        return run()
    except Exception as err:  # noqa: BLE001 (the template's own error, compared)
        return type(err).__name__, str(err)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_spans_from_the_compiled_renderer_equal_jinjas(path):
    template = ChatTemplate(path.read_text(), bos_token="<s>", eos_token="</s>", trusted=True)
    # DeepSeek-V3's generation bodies set names of their own (`{% set content = ... %}`): Jinja's scopes
    assert (template.span_render is None) == (path.name == "deepseekv3_training.jinja")
    for turns, tools in CONVERSATIONS:
        for generation_prompt in (False, True):
            ours = outcome(lambda: template.render_with_spans(turns, tools=tools,
                                                              add_generation_prompt=generation_prompt))
            kept = template.span_render, template._splicer
            template.span_render, template._splicer = None, False  # Jinja alone (no plan either: splice.py)
            try:
                jinja = outcome(lambda: template.render_with_spans(turns, tools=tools,
                                                                   add_generation_prompt=generation_prompt))
            finally:
                template.span_render, template._splicer = kept
            assert ours == jinja, (turns, generation_prompt)


def test_data_holding_a_marker_is_rendered_by_jinja():
    template = ChatTemplate((ROOT / "dataset/templates/qwen3_training.jinja").read_text(), trusted=True)
    # markers that would pair up with the template's own: the render would lose them, the span split
    turns = [{"role": "user", "content": "a"},
             {"role": "assistant", "content": f"x{spans_module.CLOSE}y{spans_module.OPEN}z"}]
    text, found = template.render_with_spans(turns)
    assert spans_module.OPEN in text and spans_module.CLOSE in text  # the data's own characters stay
    template.span_render, template._splicer = None, False
    assert (text, found) == template.render_with_spans(turns)


def test_a_body_that_sets_a_name_is_left_to_jinja():
    source = ("{% for m in messages %}{% generation %}{% set x = m.content %}{{ x }}{% endgeneration %}"
              "{{ x }}{% endfor %}")
    template = ChatTemplate(source, trusted=True)
    assert template.span_render is None
    assert template.render_with_spans([{"role": "user", "content": "a"}]) == ("a", [(0, 1)])


def test_generation_tags_in_a_comment_are_not_blocks():
    source = "{# {% generation %} #}{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}"
    template = ChatTemplate(source, trusted=True)
    assert template.span_render is not None
    assert template.render_with_spans([{"role": "user", "content": "ab"}]) == ("ab", [(0, 2)])
