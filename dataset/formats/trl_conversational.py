"""`trl-conversational`: TRL's conversational language-modeling format, for `SFTTrainer`.

    {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."},
                  {"role": "assistant", "content": "..."}], "tools": [...]?}

The turns are those of the prompt's `openai-chat` body as text (tool-call arguments as objects,
as chat templates take them), then the answer: text, or a turn with `tool_calls` (arguments as an
object) for an answer that calls the prompt's tools, with `tools` beside the messages. Train with `SFTConfig(assistant_only_loss=True)`
to learn the assistant turns only.
"""
from __future__ import annotations

from . import Format, Options
from ._messages import chat_answer, chat_tools, chat_turns, require

ROLES = {"system", "user", "assistant", "tool"}
ROLE_NAMES = sorted(ROLES)


def line(example, compiled, options: Options) -> dict:
    """One conversational line for an example."""
    out: dict = {"messages": chat_turns(compiled) + [chat_answer(example, compiled)]}
    tools = chat_tools(compiled)
    if tools:
        out["tools"] = tools
    return out


def problems(line: dict) -> list[str]:
    """What makes a line invalid for TRL's conversational format (empty when it is valid)."""
    found: list[str] = []
    turns = line.get("messages")
    require(isinstance(turns, list) and bool(turns), "`messages` is a non-empty list", found)
    for i, m in enumerate(turns or ()):
        if m.get("role") not in ROLES:
            found.append(f"messages[{i}]: role `{m.get('role')}` is not one of {ROLE_NAMES}")
        if not isinstance(m.get("content"), str):
            found.append(f"messages[{i}]: content is text")
    return found


FORMAT = Format("trl-conversational", "sft", "hf-family:chatml", line, problems, "TRL conversational (SFTTrainer)", extra_keys=True, accepts=('hf', 'openai-chat', 'openai-compatible'))
