"""Small pieces shared by the backends: Claude's thinking and history-tools passes, message-list
writers, media, JSON text."""
from __future__ import annotations

import json
import re

import attrs

from ..compiler import ir
from ..compiler.conversation import extension_of
from ..compiler.span import Span
from ..compiler.targets import Unsupported

#: Claude's smallest extended-thinking budget (https://docs.anthropic.com/en/api/messages: `budget_tokens` >= 1024)
MIN_THINKING_BUDGET = 1024


def claude_thinking(request: ir.Request, ctx) -> ir.Request:
    """A pass (anthropic, bedrock-converse): a `reasoning_tokens` budget as Claude's `thinking` object.

    0 turns thinking off; a budget under the minimum is raised to it; max_tokens must
    leave room for the answer after the thinking, so it grows when it does not (PP404).
    """
    setting = request.settings.get("reasoning_tokens")
    if setting is None or not isinstance(setting.value, int):
        return request
    budget, span = setting.value, setting.span or request.span
    settings = dict(request.settings)
    if budget <= 0:
        settings["reasoning_tokens"] = attrs.evolve(setting, value={"type": "disabled"})
        return attrs.evolve(request, settings=settings)
    if budget < MIN_THINKING_BUDGET:
        ctx.note("PP404", f"`reasoning_tokens` {budget} raised to {MIN_THINKING_BUDGET}, the smallest thinking "
                 f"budget of {ctx.name}", span)
        budget = MIN_THINKING_BUDGET
    limit = settings.get("max_tokens")
    if limit is not None and limit.value <= budget:
        ctx.note("PP404", f"`max_tokens` raised from {limit.value} to {budget + 1024}: it counts the thinking "
                 f"budget of {budget} tokens too", span)
        settings["max_tokens"] = attrs.evolve(limit, value=budget + 1024)
    settings["reasoning_tokens"] = attrs.evolve(setting, value={"type": "enabled", "budget_tokens": budget})
    return attrs.evolve(request, settings=settings)


def declare_history_tools(request: ir.Request, ctx) -> ir.Request:
    """A pass (anthropic, bedrock-converse): both reject tool blocks in a request that defines no
    tools (Anthropic: "Requests which include `tool_use` or `tool_result` blocks must define tools";
    Converse: "The toolConfig field must be defined when using toolUse and toolResult content blocks").
    When the turns hold tool calls (e.g. from spliced history) but the prompt offers no tools, declare
    the tools they name, with an open schema (PP410)."""
    if request.tools:
        return request
    names: dict[str, Span | None] = {}
    for m in request.messages:
        for p in m.parts:
            if isinstance(p, (ir.ToolCall, ir.ToolResult)) and p.name:
                names.setdefault(p.name, p.span or m.span)
    for name, span in names.items():
        ctx.note("PP410", f"tool `{name}` declared with an open schema: {ctx.name} needs a tool definition "
                 f"for every tool call in the conversation", span or request.span,
                 help="offer the tool with `tools` to send its real schema")
    tools = tuple(ir.Tool(name=n, description=None, parameters={"type": "object"}, span=s) for n, s in names.items())
    return attrs.evolve(request, tools=tools) if tools else request


def chat_messages(turns, write_turn, write_result) -> list[dict]:
    """A Chat Completions-style message list (OpenAI Chat, Mistral, Ollama): a turn of tool
    results gives one message per result (`write_result`), any other turn one (`write_turn`)."""
    out: list[dict] = []
    for m in turns:
        if m.role == "tool" or (m.parts and all(isinstance(p, ir.ToolResult) for p in m.parts)):
            out += [write_result(r) for r in m.parts if isinstance(r, ir.ToolResult)]
        else:
            out.append(write_turn(m))
    return out


def function_calls(calls) -> list[dict]:
    """OpenAI-style `tool_calls`: {id, type: "function", function: {name, arguments: JSON text}}."""
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": arguments_json(c.arguments)}}
            for c in calls]


def data_uri(m: ir.Media) -> str:
    """A media part as a URL: its own, or a base64 `data:` URI."""
    return m.url if m.url is not None else f"data:{m.media_type or 'application/octet-stream'};base64,{m.data}"


#: media type -> OpenAI's `input_audio.format`: the schema's enum is `wav` and `mp3`, nothing else
AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
                 "audio/mpeg": "mp3", "audio/mp3": "mp3"}


def audio_format(m: ir.Media) -> str:
    """OpenAI's `input_audio.format` of an audio part (`wav` or `mp3`); `Unsupported` (PP302) for
    another media type (check_media refuses those first, by the target's `Refusals`)."""
    found = AUDIO_FORMATS.get((m.media_type or "audio/wav").lower())
    if found is None:
        raise Unsupported("PP302", f"OpenAI takes wav or mp3 audio, not `{m.media_type}`", m.span,
                          help=CONVERT_AUDIO)
    return found


#: how to make audio OpenAI takes
CONVERT_AUDIO = "convert it to WAV or MP3 first, e.g. `ffmpeg -i clip.ogg clip.mp3`"


def file_name(m: ir.Media) -> str:
    """The `filename` an inline file is sent under (OpenAI Chat and Responses: a `file_data` part
    without one is refused): `file` and the extension of its media type, e.g. `file.pdf`."""
    return f"file{extension_of(m.media_type)}"


def tool_result_text(result: ir.ToolResult) -> str:
    """The text parts of a tool result, joined."""
    return "".join(p.text for p in result.content if isinstance(p, ir.Text))


def schema_name(name: str) -> str:
    """A name that fits `^[a-zA-Z0-9_-]{1,64}$` (OpenAI, Mistral and others)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "output"


def tools_and_json_schema(backend, body: dict, request: ir.Request) -> dict:
    """`body` with OpenAI-style `tools` and a `json_schema` response format (OpenAI Chat, Mistral), strict
    unless lowering found the schema has no strict form (PP413)."""
    if request.tools:
        body["tools"] = [{"type": "function", "function": backend.function(t)} for t in request.tools]
    if request.output is not None and backend.caps.structured_output is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": schema_name(request.output.name), "schema": request.output.schema,
            "strict": request.output.strict}}
    return body


def parse_arguments(text) -> dict:
    """Tool-call arguments sent as a JSON string (OpenAI-style) as an object."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except (ValueError, RecursionError):  # not JSON, nested too deep, or a number of over 4,300 digits
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_value": value}


def arguments_json(args: dict) -> str:
    """Tool-call arguments as compact JSON text."""
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))
