"""`openai-dpo`: OpenAI preference fine-tuning JSONL (a line is a `FineTunePreferenceRequestInput`).

    {"input": {"messages": [...], "tools": [...]?},
     "preferred_output": [{"role": "assistant", "content": "..."}],
     "non_preferred_output": [{"role": "assistant", "content": "..."}]}

The input is the prompt's `openai-chat` messages; the two outputs are the row's `chosen` and
`rejected` answers. OpenAI takes text inputs and outputs for DPO ("DPO is currently only
supported for text inputs and outputs"): an answer that calls a tool is a reject.
"""
from __future__ import annotations

from ..align import RowProblem
from ..answers import ToolCalls
from . import Format, Options
from ._messages import answer, openai_messages, require, text_of


def line(example, compiled, options: Options) -> dict:
    """One preference line for an example with `chosen` and `rejected`."""
    for which in ("chosen", "rejected"):
        if isinstance(getattr(example, which), ToolCalls):
            raise RowProblem(which, "a tool call: OpenAI DPO takes text outputs only")
    messages = openai_messages(compiled)
    for i, m in enumerate(messages):
        text_of(m.get("content"), f"messages[{i}]")  # text only: a media part is a row problem
    source: dict = {"messages": messages}
    if compiled.body.get("tools"):
        source["tools"] = compiled.body["tools"]
    return {"input": source,
            "preferred_output": [{"role": "assistant", "content": answer(example, compiled, "chosen")}],
            "non_preferred_output": [{"role": "assistant", "content": answer(example, compiled, "rejected")}]}


def problems(line: dict) -> list[str]:
    """What makes a line invalid for OpenAI DPO (empty when it is valid)."""
    found: list[str] = []
    require(isinstance(line.get("input", {}).get("messages"), list), "`input.messages` is a list", found)
    for key in ("preferred_output", "non_preferred_output"):
        turns = line.get(key)
        require(isinstance(turns, list) and len(turns) == 1 and turns[0].get("role") == "assistant",
                f"`{key}` is one assistant message", found)
    require(set(line) == {"input", "preferred_output", "non_preferred_output"}, "keys are input, "
            "preferred_output and non_preferred_output", found)
    return found


FORMAT = Format("openai-dpo", "preference", "openai-chat", line, problems, "OpenAI preference (DPO) JSONL", accepts=('openai-chat', 'openai-compatible'))
