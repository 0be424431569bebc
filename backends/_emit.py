"""Small pieces shared by the emitters: model choice, media, JSON text."""
from __future__ import annotations

import json
import re

from ..compiler import ir

#: Model-name prefixes by provider family, to tell a model meant for another provider.
MODEL_FAMILIES = {
    "openai": ("gpt-", "o1", "o3", "o4", "chatgpt-", "text-", "davinci"),
    "anthropic": ("claude-",),
    "google": ("gemini-", "gemma-", "learnlm-"),
    "mistral": ("mistral-", "ministral-", "codestral-", "pixtral-", "magistral-", "open-mistral", "open-mixtral",
                "devstral-"),
}


def choose_model(request: ir.Request, backend, report) -> str:
    """The prompt's model when it suits the target, else the target's default (PP404)."""
    model = request.model
    if model is None:
        return backend.default_model
    for family, prefixes in MODEL_FAMILIES.items():
        if family != backend.family and model.startswith(prefixes):
            report.info("PP404", f"model `{model}` is made for {family}: {backend.name} uses `{backend.default_model}`",
                        request.model_span or request.span,
                        help=f'name a model for it: `target "{backend.name}" {{ model "..." }}` in the prompt, '
                             f'or a `target NAME "{type(backend).name}" {{ model "..." }}` declaration')
            return backend.default_model
    return model


#: Claude's smallest extended-thinking budget (https://docs.anthropic.com/en/api/messages: `budget_tokens` >= 1024)
MIN_THINKING_BUDGET = 1024


def claude_thinking(budget: int, max_tokens: int | None, request: ir.Request, backend, report) -> tuple[dict, int | None]:
    """Claude's `thinking` object for a `reasoning_tokens` budget, and the max_tokens to send.

    0 turns thinking off; a budget under the minimum is raised to it; max_tokens must
    leave room for the answer after the thinking, so it grows when it does not (PP404).
    """
    setting = request.settings.get("reasoning_tokens")
    span = setting.span if setting is not None else request.span
    if budget <= 0:
        return {"type": "disabled"}, max_tokens
    if budget < MIN_THINKING_BUDGET:
        report.info("PP404", f"`reasoning_tokens` {budget} raised to {MIN_THINKING_BUDGET}, the smallest thinking "
                    f"budget of {backend.name}", span)
        budget = MIN_THINKING_BUDGET
    if max_tokens is not None and max_tokens <= budget:
        report.info("PP404", f"`max_tokens` raised from {max_tokens} to {budget + 1024}: it counts the thinking "
                    f"budget of {budget} tokens too", span)
        max_tokens = budget + 1024
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def data_uri(m: ir.Media) -> str:
    """The media as a URL: its own, or a base64 `data:` URI."""
    return m.url if m.url is not None else f"data:{m.media_type or 'application/octet-stream'};base64,{m.data}"


def audio_format(m: ir.Media) -> str:
    """The audio format name an API expects (`mp3`, `wav`) from the media type."""
    sub = (m.media_type or "audio/wav").split("/", 1)[1]
    return {"mpeg": "mp3", "x-wav": "wav", "wave": "wav"}.get(sub, sub)


def tool_result_text(result: ir.ToolResult) -> str:
    """The text parts of a tool result, joined."""
    return "".join(p.text for p in result.content if isinstance(p, ir.Text))


def schema_name(name: str) -> str:
    """A name that fits `^[a-zA-Z0-9_-]{1,64}$` (OpenAI, Mistral and others)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "output"


def tools_and_json_schema(backend, body: dict, request: ir.Request) -> dict:
    """`body` with OpenAI-style `tools` and a strict `json_schema` response format (OpenAI Chat, Mistral)."""
    if request.tools:
        body["tools"] = [{"type": "function", "function": backend.function(t)} for t in request.tools]
    if request.output is not None and backend.caps.structured_output is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": schema_name(request.output.name), "schema": request.output.schema, "strict": True}}
    return body


def parse_arguments(text) -> dict:
    """Tool-call arguments sent as a JSON string (OpenAI-style) as an object."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_value": value}


def arguments_json(args: dict) -> str:
    """Tool-call arguments as compact JSON text (OpenAI-style `arguments`)."""
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))
