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


def data_uri(m: ir.Media) -> str:
    return m.url if m.url is not None else f"data:{m.media_type or 'application/octet-stream'};base64,{m.data}"


def audio_format(m: ir.Media) -> str:
    sub = (m.media_type or "audio/wav").split("/", 1)[1]
    return {"mpeg": "mp3", "x-wav": "wav", "wave": "wav"}.get(sub, sub)


def tool_result_text(result: ir.ToolResult) -> str:
    return "".join(p.text for p in result.content if isinstance(p, ir.Text))


def schema_name(name: str) -> str:
    """A name that fits `^[a-zA-Z0-9_-]{1,64}$` (OpenAI, Mistral and others)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "output"


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
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))
