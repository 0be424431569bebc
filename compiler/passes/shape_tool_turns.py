"""shape_tool_turns: write tool results the way the target takes them.

    caps.tool_results == "user_turn":   tool(result)  ->  user(result)

Anthropic, Gemini and Bedrock take results as blocks of a user turn; OpenAI,
Mistral and Ollama as turns of their own role. A target without tool calling
cannot express a prompt that calls tools (PP301).
"""
from __future__ import annotations

import attrs

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    if not ctx.caps.tools:
        uses = [m for m in request.messages if any(isinstance(p, (ir.ToolCall, ir.ToolResult)) for p in m.parts)]
        for item in list(request.tools[:1]) + uses[:1]:
            ctx.report.error("PP301", f"{ctx.backend.name} has no tool calling", item.span or request.span,
                             help="compile for a target with tools, or move the tools into a `target` block")
        return request
    if ctx.caps.tool_results != "user_turn":
        return request
    messages = tuple(attrs.evolve(m, role="user") if m.role == "tool" else m for m in request.messages)
    return attrs.evolve(request, messages=messages)
