"""`trl-preference`: TRL's conversational preference format (explicit prompt), for `DPOTrainer`.

    {"prompt": [{"role": "user", "content": "..."}],
     "chosen": [{"role": "assistant", "content": "..."}], "rejected": [{"role": "assistant", "content": "..."}]}
"""
from __future__ import annotations

from . import Format, Options
from ._messages import answer, chat_turns, require
from .trl_conversational import problems as turn_problems


def line(example, compiled, options: Options) -> dict:
    """One preference line for an example with `chosen` and `rejected`."""
    return {"prompt": chat_turns(compiled),
            "chosen": [{"role": "assistant", "content": answer(example, compiled, "chosen")}],
            "rejected": [{"role": "assistant", "content": answer(example, compiled, "rejected")}]}


def problems(line: dict) -> list[str]:
    """What makes a line invalid for TRL's preference format (empty when it is valid)."""
    found = turn_problems({"messages": line.get("prompt")})
    for key in ("chosen", "rejected"):
        turns = line.get(key)
        require(isinstance(turns, list) and len(turns) == 1 and turns[0].get("role") == "assistant",
                f"`{key}` is one assistant turn", found)
    return found


FORMAT = Format("trl-preference", "preference", "hf-family:chatml", line, problems, "TRL preference (DPOTrainer)", extra_keys=True, accepts=('hf', 'openai-chat', 'openai-compatible'))
