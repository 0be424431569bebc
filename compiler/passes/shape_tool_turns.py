"""shape_tool_turns: write tool calls and results the way the target takes them.

    caps.tool_results == "user_turn":   tool(result)  ->  user(result)
    caps.tool_call_ids == "nine_alnum": call id "call_A1"  ->  "Xy3..." (9 letters and digits, PP410)

Anthropic, Gemini and Bedrock take results as blocks of a user turn; OpenAI,
Mistral and Ollama as turns of their own role. Mistral's API and chat templates take
only ids of exactly 9 letters and digits (mistral-common `MistralRequestValidatorV3`:
"Tool call id ... must be a-z, A-Z, 0-9, with a length of 9"): another id becomes a
stable hash of it, the same for a call and its result. A target without tool calling
cannot express a prompt that calls tools (PP301). A tool that a `history` turn calls but the
prompt does not offer, when it offers tools, is a warning (PP416): every provider takes such a
call, but the model sees itself call a tool it cannot call now (docs/history.md).
"""
from __future__ import annotations

import hashlib
import re

import attrs

from .. import ir

NINE_ALNUM = re.compile(r"^[a-zA-Z0-9]{9}$")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with tool calls and results written as the target takes them (PP301 when it has no tools)."""
    if not ctx.caps.tools:
        uses = [m for m in request.messages if any(isinstance(p, (ir.ToolCall, ir.ToolResult)) for p in m.parts)]
        for item in list(request.tools[:1]) + uses[:1]:
            ctx.report.error("PP301", f"{ctx.name} has no tool calling", item.span or request.span,
                             help="compile for a target with tools, or move the tools into a `target` block")
        return request
    _undeclared_history_calls(request, ctx)
    if ctx.caps.tool_call_ids == "nine_alnum":
        request = _nine_character_ids(request, ctx)
    if ctx.caps.tool_results != "user_turn":
        return request
    messages = tuple(attrs.evolve(m, role="user") if m.role == "tool" else m for m in request.messages)
    return attrs.evolve(request, messages=messages)


def _undeclared_history_calls(request: ir.Request, ctx) -> None:
    """PP416 for each tool a history turn calls that the prompt does not offer. A prompt offering no
    tools replays its history as context: nothing to check (Anthropic and Bedrock declare them, PP410)."""
    if not request.tools:
        return
    offered = {t.name for t in request.tools}
    for m in request.messages:
        for p in m.parts if m.source == "history" else ():
            if isinstance(p, ir.ToolCall) and p.name not in offered:
                offered.add(p.name)  # once per tool
                ctx.report.warning("PP416", f"the history calls `{p.name}`, a tool the prompt does not offer",
                                   p.span or m.span or request.span,
                                   help=f"offer it (`tools {p.name}`), or leave the call out of the history")


def nine_character_id(original: str) -> str:
    """`original` if it is 9 letters and digits, else a stable 9-character id made from it."""
    if NINE_ALNUM.match(original):
        return original
    number = int.from_bytes(hashlib.sha256(original.encode("utf-8")).digest(), "big")
    out = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        out.append(_BASE62[digit])
    return "".join(out)


def _nine_character_ids(request: ir.Request, ctx) -> ir.Request:
    """Every tool call and result id as `nine_character_id` gives it, with a note for each one changed."""
    ids: dict[str, str] = {}

    def renamed(part, m):
        if not isinstance(part, (ir.ToolCall, ir.ToolResult)):
            return part
        if part.id not in ids:
            ids[part.id] = nine_character_id(part.id)
            if ids[part.id] != part.id:
                ctx.note("PP410", f"tool call id `{part.id}` sent as `{ids[part.id]}`: {ctx.name} takes "
                         f"ids of exactly 9 letters and digits", part.span or m.span or request.span)
        return attrs.evolve(part, id=ids[part.id])

    messages = tuple(attrs.evolve(m, parts=tuple(renamed(p, m) for p in m.parts)) for m in request.messages)
    return attrs.evolve(request, messages=messages)


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when text turns hold no tool calls or results."""
    return True
