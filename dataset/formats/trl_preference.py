"""`trl-preference`: TRL's conversational preference format (explicit prompt), for `DPOTrainer`.

    {"prompt": [{"role": "user", "content": "..."}],
     "chosen": [{"role": "assistant", "content": "..."}], "rejected": [{"role": "assistant", "content": "..."}],
     "tools": [...]?}

An answer may call the prompt's tools (a turn with `tool_calls`); the tools go beside, as
`DPOTrainer` passes them to the chat template.
"""
from __future__ import annotations

from . import Format, Options
from ._messages import chat_answer, chat_tools, chat_turns, require
from .trl_conversational import problems as turn_problems


def line(example, compiled, options: Options) -> dict:
    """One preference line for an example with `chosen` and `rejected`."""
    out: dict = {"prompt": chat_turns(compiled), "chosen": [chat_answer(example, compiled, "chosen")],
                 "rejected": [chat_answer(example, compiled, "rejected")]}
    tools = chat_tools(compiled)
    if tools:
        out["tools"] = tools
    return out


def problems(line: dict) -> list[str]:
    """What makes a line invalid for TRL's preference format (empty when it is valid)."""
    found = turn_problems({"messages": line.get("prompt")})
    for key in ("chosen", "rejected"):
        turns = line.get(key)
        require(isinstance(turns, list) and len(turns) == 1 and turns[0].get("role") == "assistant",
                f"`{key}` is one assistant turn", found)
    return found


FORMAT = Format("trl-preference", "preference", "hf-family:chatml", line, problems, "TRL preference (DPOTrainer)", extra_keys=True, accepts=('hf', 'openai-chat', 'openai-compatible'))
