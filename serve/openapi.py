"""`GET /openapi.json`: an OpenAPI 3.1 document generated from the served prompts' types.

Each prompt's request body is the JSON Schema of its parameters and its answer's `value` the
schema of its output type, both from `compiler.schema.json_schema` (the schemas structured outputs
use). Named types (`$defs`) move to `components/schemas`, so every `$ref` resolves inside the
document; two files' types of one name and different shapes get the prompt's name in front.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any

__all__ = ["document"]

_ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "object", "required": ["message", "type", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"}, "code": {"type": "string"},
        "param": {"type": ["string", "null"]}}},
    "problems": {"type": "array", "items": {"type": "object", "properties": {
        "path": {"type": "string"}, "message": {"type": "string"}}}}}}
_USAGE = {"type": ["object", "null"], "properties": {k: {"type": "integer"} for k in
                                                     ("prompt_tokens", "completion_tokens", "total_tokens")}}
_REPORT = {"type": "array", "items": {"type": "object", "properties": {
    "file": {"type": "string"}, "line": {"type": "integer"}, "col": {"type": "integer"},
    "severity": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"},
    "rendered": {"type": "string"}}}}
_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _errors(*statuses: int) -> dict:
    words = {400: "Bad request (invalid JSON, an unknown target)", 401: "Missing or wrong API key",
             404: "No such prompt", 413: "Request body too large", 422: "Invalid inputs: every problem listed",
             429: "The generation queue is full (see Retry-After)", 501: "The target cannot be sent to here",
             502: "The model's reply does not parse into the output type",
             503: "The model cannot be loaded"}
    return {str(s): {"description": words[s], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}} for s in statuses}


class _Components:
    """`components/schemas` being filled: each schema's `$defs` hoisted, refs rewritten."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": _ERROR}
        self._raw: dict[str, str] = {}

    def add(self, name: str, schema: dict, prefix: str) -> dict:
        """Register `schema` as component `name`; a `$ref` to it."""
        schema = copy.deepcopy(schema)
        defs = schema.pop("$defs", {})
        names = {}
        for key, value in defs.items():
            raw = json.dumps(value, sort_keys=True)
            chosen = _NAME.sub("_", key)
            if self._raw.get(chosen, raw) != raw:
                chosen = _NAME.sub("_", f"{prefix}.{key}")
            self._raw[chosen] = raw
            names[key] = chosen
        root = _NAME.sub("_", name)
        refs = {f"#/$defs/{k}": f"#/components/schemas/{v}" for k, v in names.items()}
        refs["#"] = f"#/components/schemas/{root}"
        for key, value in defs.items():
            self.schemas[names[key]] = _rewrite(value, refs)
        self.schemas[root] = _rewrite(schema, refs)
        return {"$ref": f"#/components/schemas/{root}"}


def _rewrite(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: (refs.get(v, v) if k == "$ref" and isinstance(v, str) else _rewrite(v, refs))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, refs) for v in node]
    return node


def _json_body(ref: dict, description: str) -> dict:
    return {"description": description, "required": True, "content": {"application/json": {"schema": ref}}}


def _prompt_paths(name: str, prompts, components: _Components, default_target: str) -> dict:
    inputs = components.add(f"{name}.inputs", prompts.inputs_schema(name), name)
    value = components.add(f"{name}.output", prompts.output_schema(name), name)
    answer = {"type": "object", "required": ["value", "text", "target"], "properties": {
        "value": value, "text": {"type": "string"}, "target": {"type": "string"},
        "finish_reason": {"type": ["string", "null"]}, "usage": _USAGE, "latency_ms": {"type": "number"}}}
    compiled = {"type": "object", "required": ["target", "prompt", "body", "report"], "properties": {
        "target": {"type": "string"}, "prompt": {"type": "string"}, "body": {"type": "object"},
        "made_by": {"type": "string"}, "report": _REPORT}}
    target_param = {"name": "target", "in": "query", "required": False, "schema": {"type": "string"},
                    "description": f"The target to compile for (default: {default_target}); see `polyprompt targets`."}
    return {
        f"/prompts/{name}": {"post": {
            "operationId": _NAME.sub("_", name), "summary": f"Run the prompt `{name}` and answer with its typed value",
            "requestBody": _json_body(inputs, f"The inputs of `{name}`"),
            "responses": {"200": {"description": "The typed answer", "content": {"application/json": {
                "schema": answer}}}, **_errors(400, 401, 404, 413, 422, 429, 501, 502, 503)}}},
        f"/prompts/{name}/compile": {"post": {
            "operationId": _NAME.sub("_", f"{name}_compile"),
            "summary": f"Compile `{name}` to a target's exact request body, with the lowering report",
            "parameters": [target_param], "requestBody": _json_body(inputs, f"The inputs of `{name}`"),
            "responses": {"200": {"description": "The body and what changed for the target", "content": {
                "application/json": {"schema": compiled}}}, **_errors(400, 401, 404, 413, 422)}}},
    }


def _static_paths() -> dict:
    chat_request = {"type": "object", "required": ["messages"], "properties": {
        "model": {"type": "string"}, "messages": {"type": "array", "items": {"type": "object"}},
        "max_tokens": {"type": ["integer", "null"]}, "max_completion_tokens": {"type": ["integer", "null"]},
        "temperature": {"type": ["number", "null"]}, "top_p": {"type": ["number", "null"]},
        "stop": {"type": ["string", "array", "null"]}, "seed": {"type": ["integer", "null"]},
        "n": {"type": ["integer", "null"]}, "stream": {"type": ["boolean", "null"]},
        "stream_options": {"type": ["object", "null"]}}}
    plain = {"type": "object"}
    return {
        "/healthz": {"get": {"operationId": "healthz", "summary": "Liveness: the prompts served and the queue",
                             "responses": {"200": {"description": "Serving", "content": {"application/json": {
                                 "schema": plain}}}, **_errors(401)}}},
        "/v1/models": {"get": {"operationId": "list_models", "summary": "The model served (OpenAI's list shape)",
                               "responses": {"200": {"description": "The models", "content": {"application/json": {
                                   "schema": plain}}}, **_errors(401)}}},
        "/v1/chat/completions": {"post": {
            "operationId": "create_chat_completion",
            "summary": "OpenAI-compatible chat on the local model (JSON, or SSE with `stream: true`)",
            "requestBody": _json_body(chat_request, "An OpenAI Chat Completions request"),
            "responses": {"200": {"description": "A chat.completion object, or chat.completion.chunk events",
                                  "content": {"application/json": {"schema": plain},
                                              "text/event-stream": {"schema": {"type": "string"}}}},
                          **_errors(400, 401, 413, 429, 503)}}},
    }


def document(prompts, default_target: str, secured: bool, version: str) -> dict:
    """The OpenAPI 3.1 document of a server of these prompts (`serve.prompts.PromptSet`)."""
    components = _Components()
    paths: dict[str, Any] = {}
    for name in prompts.entries:
        paths.update(_prompt_paths(name, prompts, components, default_target))
    paths.update(_static_paths())
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "polyprompt serve", "version": version,
                 "description": "Every prompt as a typed endpoint, its compile step, and an OpenAI-compatible chat "
                                "endpoint on a local model (docs/serve.md)."},
        "paths": paths, "components": {"schemas": components.schemas}}
    if secured:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
