"""The `google-genai` SDK: `client.models.generate_content(**kwargs)` (gemini, vertex).

The SDK takes `model`, `contents` and a flat `config` (`types.GenerateContentConfig`), not the
REST body: the body's `contents` are passed as they are (the SDK reads the REST names), its
other fields and those of `generationConfig` become `config` fields under their snake_case
names (`systemInstruction` -> `system_instruction`, `generationConfig.topP` -> `top_p`). Inline
media (`inlineData.data`) is passed as bytes, the SDK's type: it base64-encodes it.

The model goes in the URL (`models/...` on the Gemini API, the Vertex resource path on Vertex),
and the API version is the client's: the body is written for v1beta (Gemini) and v1 (Vertex),
so the client is made with that version. On the wire the SDK writes some names in snake_case
(`fileData.file_uri`, `functionDeclarations[].parameters_json_schema`,
`thinkingConfig.thinking_budget`): the APIs' JSON parsers take both spellings.
"""
from __future__ import annotations

import re

from . import SdkCall, decode_blobs

#: body fields that are free-form JSON (tool arguments and results, schemas): never rewritten
FREE_FORM = frozenset({"args", "response", "parametersJsonSchema", "parameters", "responseJsonSchema",
                       "responseSchema"})
#: the body's nested config object whose fields are flattened into `config`
GENERATION_CONFIG = "generationConfig"


def call(backend, body: dict) -> SdkCall:
    """The google-genai call of a Gemini or Vertex body."""
    model = body.pop("model")
    contents = body.pop("contents")
    decode_blobs(contents, "inlineData", "data", FREE_FORM)
    config: dict = {}
    for key, value in body.items():
        if key == GENERATION_CONFIG:
            config.update((snake_case(k), v) for k, v in value.items())
        else:
            config[snake_case(key)] = value
    kwargs: dict = {"model": model, "contents": contents}
    if config:
        kwargs["config"] = config
    return SdkCall("google-genai", ("from google import genai",), client(backend), "models.generate_content", kwargs)


def client(backend) -> str:
    """The client's source: the API version the body is written for; on Vertex, the project and
    location of the model path (express mode with an API key when the target gives no project)."""
    if type(backend).name != "vertex":
        return "genai.Client(http_options={'api_version': 'v1beta'})"
    project = backend.options.get("project")
    if not project:
        return "genai.Client(vertexai=True, http_options={'api_version': 'v1'})"
    location = backend.options.get("location") or "global"
    return (f"genai.Client(vertexai=True, project={project!r}, location={location!r}, "
            "http_options={'api_version': 'v1'})")


def snake_case(name: str) -> str:
    """A REST (lowerCamelCase) field name as the SDK's field name: `maxOutputTokens` -> `max_output_tokens`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)
