"""`vertex-sft`: Vertex AI Gemini supervised tuning JSONL.

    {"systemInstruction": {"role": "system", "parts": [{"text": "..."}]}?,
     "contents": [{"role": "user", "parts": [...]}, ..., {"role": "model", "parts": [{"text": "..."}]}],
     "tools": [...]?}

The contents and system instruction are those of the prompt's `vertex` body (media parts as
`fileData`, tool calls as `functionCall`); the answer is the last `model` turn: its text, or a
`functionCall` part for each tool it calls.
"""
from __future__ import annotations

import copy

from . import Format, Options
from ._messages import answer_turn, no_other_keys, require

ROLES = {"user", "model"}

#: the keys a line may have
KEYS = frozenset({"systemInstruction", "contents", "tools"})


def line(example, compiled, options: Options) -> dict:
    """One tuning line for an example."""
    body = compiled.body
    out: dict = {}
    if body.get("systemInstruction"):
        out["systemInstruction"] = {"role": "system", **copy.deepcopy(body["systemInstruction"])}
    turn = answer_turn(example, compiled)  # a call turn is written by the vertex backend: `model`, parts
    if "content" in turn:
        turn = {"role": "model", "parts": [{"text": turn["content"]}]}
    out["contents"] = copy.deepcopy(body["contents"]) + [turn]
    if body.get("tools"):
        out["tools"] = copy.deepcopy(body["tools"])
    return out


def problems(line: dict) -> list[str]:
    """What makes a line invalid for Gemini tuning (empty when it is valid)."""
    found: list[str] = []
    contents = line.get("contents")
    if not (isinstance(contents, list) and contents):
        return found + ["`contents` is a non-empty list"]
    for i, c in enumerate(contents):
        if c.get("role") not in ROLES:
            found.append(f"contents[{i}]: role `{c.get('role')}` is user or model")
        if not (isinstance(c.get("parts"), list) and c["parts"]):
            found.append(f"contents[{i}]: parts is a non-empty list")
    require(contents[-1].get("role") == "model", "the last turn is the model's", found)
    no_other_keys(line, KEYS, found)
    return found


FORMAT = Format("vertex-sft", "sft", "vertex", line, problems, "Vertex AI Gemini supervised tuning JSONL", accepts=('vertex', 'gemini'))
