"""`bedrock-sft`: Amazon Bedrock fine-tuning JSONL for Claude models.

    {"system": "..."?, "messages": [{"role": "user", "content": "..."},
                                    {"role": "assistant", "content": "..."}, ...]}

The rules (Bedrock's Claude fine-tuning guide): `system` is optional; at least two messages;
the first is the user's and the last the assistant's; user and assistant alternate; content is
text; no other keys. The turns are those of the prompt's `anthropic` body (whose turns already
alternate), flattened to text; a row whose prompt sends media or tool turns, or whose answer
calls a tool, cannot be written (a reject saying so).
"""
from __future__ import annotations

from ..align import RowProblem
from ..answers import ToolCalls
from . import Format, Options
from ._messages import answer, no_other_keys, require

#: the keys a line may have
KEYS = frozenset({"system", "messages"})


def line(example, compiled, options: Options) -> dict:
    """One fine-tuning line for an example."""
    if isinstance(example.output, ToolCalls):
        raise RowProblem("output", "a tool call: Bedrock's Claude fine-tuning lines hold text turns only")
    body = compiled.body
    out: dict = {}
    system = _blocks_text(body.get("system"), "system")
    if system:
        out["system"] = system
    messages = [{"role": m["role"], "content": _blocks_text(m["content"], f"messages[{i}]")}
                for i, m in enumerate(body["messages"])]
    answer_turn = {"role": "assistant", "content": answer(example, compiled)}
    if messages and messages[-1]["role"] == "assistant":  # a prefilled answer start: the answer continues it
        answer_turn["content"] = messages.pop()["content"] + answer_turn["content"]
    out["messages"] = messages + [answer_turn]
    return out


def _blocks_text(content, where: str) -> str:
    """Anthropic content (a string or blocks) as text; RowProblem for anything but text blocks."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for block in content:
        if block.get("type") != "text":
            raise RowProblem(where, f"Bedrock fine-tuning takes text only, not a `{block.get('type')}` block")
        texts.append(block["text"])
    return "\n\n".join(texts) if where == "system" else "".join(texts)


def problems(line: dict) -> list[str]:
    """What makes a line invalid for Bedrock fine-tuning (empty when it is valid)."""
    found: list[str] = []
    messages = line.get("messages") or []
    require(len(messages) >= 2, "at least two messages", found)
    require(bool(messages) and messages[0].get("role") == "user", "the first message is the user's", found)
    require(bool(messages) and messages[-1].get("role") == "assistant", "the last message is the assistant's", found)
    for i, m in enumerate(messages):
        if m.get("role") != ("user" if i % 2 == 0 else "assistant"):
            found.append(f"messages[{i}]: user and assistant alternate")
        if not (isinstance(m.get("content"), str) and m.keys() == {"role", "content"}):
            found.append(f"messages[{i}]: only `role` and text `content`")
    no_other_keys(line, KEYS, found)
    require(isinstance(line.get("system", ""), str), "`system` is text", found)
    return found


FORMAT = Format("bedrock-sft", "sft", "anthropic", line, problems, "Amazon Bedrock (Claude) fine-tuning JSONL", accepts=('anthropic',))
