"""`openai-sft`: OpenAI supervised fine-tuning JSONL (a line is a `FineTuneChatRequestInput`).

    {"messages": [system?, user, ..., {"role": "assistant", "content": "...", "weight": 1}],
     "tools": [...]?, "parallel_tool_calls": bool?}

The messages are those of the prompt's `openai-chat` body; the answer is appended as the last
assistant turn: its text, or, for an answer that calls the prompt's tools, `tool_calls` (arguments
as JSON text) and `content: null`, as in the schema's own example. `weight` (0 or 1) marks which assistant turns are learned: by default only the
answer, every one with `train_on="all"`. The schema allows system, user, assistant, tool and
function messages, not `developer`.
"""
from __future__ import annotations

from . import Format, Options
from ._messages import answer_turn, no_other_keys, openai_messages, require, weighted

ROLES = {"system", "user", "assistant", "tool", "function"}
ROLE_NAMES = sorted(ROLES)

#: the keys a line may have
KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})


def line(example, compiled, options: Options) -> dict:
    """One training line for an example."""
    messages = openai_messages(compiled) + [answer_turn(example, compiled)]
    out: dict = {"messages": weighted(messages, options.train_on)}
    if compiled.body.get("tools"):
        out["tools"] = compiled.body["tools"]
    if "parallel_tool_calls" in compiled.body:
        out["parallel_tool_calls"] = compiled.body["parallel_tool_calls"]
    return out


def problems(line: dict) -> list[str]:
    """What makes a line invalid for OpenAI fine-tuning (empty when it is valid)."""
    found: list[str] = []
    messages = line.get("messages")
    require(isinstance(messages, list) and bool(messages), "`messages` is a non-empty list", found)
    answered = False
    for i, m in enumerate(messages or ()):
        role = m.get("role")
        if role not in ROLES:
            found.append(f"messages[{i}]: role `{role}` is not one of {ROLE_NAMES}")
        elif role == "assistant":
            answered = True
            if m.get("weight", 1) not in (0, 1):
                found.append(f"messages[{i}]: weight is 0 or 1")
            elif m.get("content") is None and not m.get("tool_calls"):
                found.append(f"messages[{i}]: an assistant turn has content or tool calls")
        if len(m.get("tool_calls") or ()) > 1 and line.get("parallel_tool_calls") is False:
            found.append(f"messages[{i}]: several tool calls in one turn, but `parallel_tool_calls` is false")
    require(answered, "a line has an assistant turn", found)
    no_other_keys(line, KEYS, found)
    return found


FORMAT = Format("openai-sft", "sft", "openai-chat", line, problems, "OpenAI supervised fine-tuning JSONL", accepts=('openai-chat', 'openai-compatible'))
