"""`trl-prompt-completion`: TRL's conversational prompt-completion format, for `SFTTrainer`.

    {"prompt": [{"role": "user", "content": "..."}], "completion": [{"role": "assistant", "content": "..."}]}

`SFTTrainer` computes the loss on the completion only (`completion_only_loss` defaults to that
for this format).
"""
from __future__ import annotations

from . import Format, Options
from ._messages import chat_answer, chat_tools, chat_turns, require
from .trl_conversational import problems as turn_problems


def line(example, compiled, options: Options) -> dict:
    """One prompt-completion line for an example."""
    out: dict = {"prompt": chat_turns(compiled),
                 "completion": [chat_answer(example, compiled)]}
    tools = chat_tools(compiled)
    if tools:
        out["tools"] = tools
    return out


def problems(line: dict) -> list[str]:
    """What makes a line invalid for TRL's prompt-completion format (empty when it is valid)."""
    found = turn_problems({"messages": line.get("prompt")})
    completion = line.get("completion")
    require(isinstance(completion, list) and len(completion) >= 1
            and all(m.get("role") == "assistant" for m in completion), "`completion` is assistant turns", found)
    return found


FORMAT = Format("trl-prompt-completion", "sft", "hf-family:chatml", line, problems, "TRL prompt-completion (SFTTrainer)", extra_keys=True, accepts=('hf', 'openai-chat', 'openai-compatible'))
