"""What the formats share: the chat messages of a compiled body, and the answer turns."""
from __future__ import annotations

import copy
import json
from typing import Any

from ..align import RowProblem
from ..answers import ToolCalls, answer_text


def openai_messages(compiled: Any) -> list[dict]:
    """The messages of an `openai-chat` body (each compile's body is its own: no copy needed)."""
    return list(compiled.body["messages"])


def answer(example: Any, compiled: Any, which: str = "output") -> str:
    """The text of the example's answer `which` (`output`, `chosen`, `rejected`); RowProblem for
    tool calls (a format that writes them asks `answer_turn`)."""
    value = getattr(example, which)
    if isinstance(value, ToolCalls):
        raise RowProblem(which, "a tool call, but this format's answers are text")
    output = compiled.output if hasattr(compiled, "output") else compiled.request.output
    return answer_text(value, output, compiled.backend)


def answer_turn(example: Any, compiled: Any, which: str = "output") -> dict:
    """The assistant turn of the answer `which` in the target's message shape: its text, or the
    turn calling its tools (`_calls.call_turn`: OpenAI `tool_calls`, Gemini `functionCall`...)."""
    value = getattr(example, which)
    if isinstance(value, ToolCalls):
        from ._calls import call_turn

        return call_turn(value, compiled, which)
    return {"role": "assistant", "content": answer(example, compiled, which)}


def chat_answer(example: Any, compiled: Any, which: str = "output") -> dict:
    """The answer turn as a Hugging Face chat template reads it (tool-call arguments as objects)."""
    turn = answer_turn(example, compiled, which)
    if "tool_calls" not in turn:
        return turn
    return turn if _open_model(compiled.backend) else plain_turns([turn])[0]


def weighted(messages: list[dict], train_on: str) -> list[dict]:
    """OpenAI's `weight` on every assistant turn: 1 on the turns learned (the last one, or all
    with `train_on="all"`), 0 on the others."""
    roles = [m.get("role") for m in messages]
    last = len(roles) - 1 - roles[::-1].index("assistant") if "assistant" in roles else -1
    every = train_on == "all"
    return [{**m, "weight": int(every or i == last)} if role == "assistant" else m
            for i, (m, role) in enumerate(zip(messages, roles))]


def text_of(content: Any, where: str) -> str:
    """A message's content as text: a string, or text parts joined; RowProblem for media."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    texts = []
    for part in content:
        if part.get("type") != "text":
            raise RowProblem(where, f"this format takes text only, not a `{part.get('type')}` part")
        texts.append(part["text"])
    return "".join(texts)


def plain_turns(messages: list[dict]) -> list[dict]:
    """Chat messages as the Hugging Face chat-template form TRL takes: text content, tool-call
    arguments as objects (not JSON text), tool results with their call id."""
    out = []
    for i, m in enumerate(messages):
        turn: dict[str, Any] = {"role": m["role"], "content": text_of(m.get("content"), f"messages[{i}]")}
        if m.get("tool_calls"):
            turn["tool_calls"] = [{"type": "function", "id": c.get("id"), "function": {
                "name": c["function"]["name"], "arguments": _arguments(c["function"].get("arguments"))}}
                for c in m["tool_calls"]]
        if m["role"] == "tool" and "tool_call_id" in m:
            turn["tool_call_id"] = m["tool_call_id"]
        out.append(turn)
    return out


def _arguments(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def chat_turns(compiled: Any) -> list[dict]:
    """The turns a Hugging Face chat template reads for this compile: for an open-model target,
    the very messages its template rendered (output instructions in the system text, the
    family's own turn rules applied); for an OpenAI-style body, its messages as text turns."""
    backend = compiled.backend
    if _open_model(backend):
        turns = copy.deepcopy(backend.write_messages(compiled.request.messages))
        for i, turn in enumerate(turns):
            turn["content"] = text_of(turn.get("content"), f"messages[{i}]")
        return turns
    return plain_turns(openai_messages(compiled))


def _open_model(backend: Any) -> bool:
    """Whether a backend is an open-model target (its messages are a chat template's already)."""
    return type(backend).name.startswith(("hf-family:", "hf:"))


def chat_tools(compiled: Any) -> list[dict] | None:
    """The tools a Hugging Face chat template takes (OpenAI's function shape), or None."""
    tools = compiled.tools if hasattr(compiled, "tools") else compiled.request.tools
    return [{"type": "function", "function": {"name": t.name, "description": t.description or "",
                                              "parameters": t.parameters}} for t in tools] or None


def require(condition: bool, problem: str, problems: list[str]) -> None:
    """Add `problem` unless `condition` holds."""
    if not condition:
        problems.append(problem)


def no_other_keys(line: dict, allowed: frozenset, problems: list[str]) -> None:
    """Add a problem naming the keys of `line` that are not `allowed`."""
    extra = line.keys() - allowed
    if extra:
        problems.append(f"unknown keys {sorted(extra)}")
