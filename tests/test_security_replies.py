"""Security regressions of replies (issue 12, item 14): whatever a provider (or someone posing as
one) sends back, reading it gives a Reply or a ReplyError, never an internal error, and loses no
text. See docs/security.md, "No internal errors"."""
from __future__ import annotations

import pytest

import polyprompt
from polyprompt.compiler.replies import ReplyError

DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "9" * 5_000


def tool_call_reply(arguments: str) -> dict:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
    return {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]},
                         "finish_reason": "tool_calls"}]}


@pytest.mark.parametrize("arguments", [DEEP, HUGE, '{"n": %s}' % HUGE, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_unreadable_tool_arguments_are_kept_as_text(arguments):
    """100,000-deep arguments raised RecursionError, 5,000-digit numbers a ValueError."""
    [call] = polyprompt.parse("openai-chat", tool_call_reply(arguments)).tool_calls
    assert call.arguments == {"_raw": arguments}


@pytest.fixture
def typed(tmp_path):
    path = tmp_path / "p.prompt"
    path.write_text('type Out { n: int }\n\nprompt p() -> Out {\n  model "gpt-4o-mini"\n  user "count"\n}\n')
    return polyprompt.load(path).compile("openai-chat")


@pytest.mark.parametrize("text, message", [
    ('{"n": %s}' % HUGE, "a value Python cannot read"),
    (DEEP, "nests too deep"),
])
def test_unreadable_output_json_is_a_reply_error(typed, text, message):
    reply = {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    with pytest.raises(ReplyError, match=message):
        typed.parse(reply)
