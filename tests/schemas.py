"""Validators for request bodies, built from the providers' official schemas (tests/data/refdata:
the parts of ../shared/refdata the tests use; ../shared/design/platforms.md §3 has the recipe and pitfalls).

- OpenAI, Anthropic, Mistral, Gemini (community OpenAPI): jsonschema Draft 2020-12 over
  the whole OpenAPI document registered as one resource, so `#/components/schemas/...`
  references resolve. OpenAPI 3.0's `nullable: true` is rewritten to allow null first.
- Bedrock: the Smithy JSON model (not JSON Schema) walked shape by shape.
"""
from __future__ import annotations

import functools
from pathlib import Path
import json

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from helpers import REFDATA

SPECS = {
    "openai": (REFDATA / "openai" / "openapi.subset.json", "urn:openai"),
    "anthropic": (REFDATA / "anthropic" / "openapi.subset.json", "urn:anthropic"),
    "mistral": (REFDATA / "mistral" / "openapi.subset.json", "urn:mistral"),
    "gemini": (REFDATA / "google" / "gemini-native.openapi.subset.json", "urn:gemini"),
}


def _nullable(node):
    """OpenAPI 3.0 `nullable: true` -> also accept null (jsonschema ignores `nullable`)."""
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable(v) for k, v in node.items()}
    if "discriminator" in node and "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")  # jsonschema ignores the discriminator: overlapping variants would fail oneOf
    if node.pop("nullable", False) is True:
        return {"anyOf": [node, {"type": "null"}]}
    return node


@functools.lru_cache(maxsize=None)
def _spec(name: str) -> tuple[dict, Registry]:
    path, urn = SPECS[name]
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=yaml.CSafeLoader)
    doc = _nullable(doc)
    registry = Registry().with_resource(urn, Resource.from_contents(doc, default_specification=DRAFT202012))
    return doc, registry


@functools.lru_cache(maxsize=None)
def validator(spec: str, schema_name: str) -> jsonschema.Draft202012Validator:
    _doc, registry = _spec(spec)
    urn = SPECS[spec][1]
    return jsonschema.Draft202012Validator({"$ref": f"{urn}#/components/schemas/{schema_name}"}, registry=registry)


def errors(spec: str, schema_name: str, body: dict) -> list[str]:
    """Every validation error, as `path: message` (best match first for oneOf noise)."""
    v = validator(spec, schema_name)
    found = []
    for err in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path)):
        best = jsonschema.exceptions.best_match([err])
        found.append(f"{'/'.join(map(str, best.absolute_path))}: {best.message[:300]}")
    return found


# ---------------------------------------------------------------- Bedrock (Smithy)


@functools.lru_cache(maxsize=1)
def _bedrock_shapes() -> dict:
    return json.loads((REFDATA / "aws" / "bedrock-runtime.converse.subset.json").read_text())["shapes"]


def bedrock_errors(body: dict, shape: str = "ConverseRequest") -> list[str]:
    """Check a Converse body against the Smithy shapes: members, required, types, unions, enums."""
    found: list[str] = []
    shapes = _bedrock_shapes()
    # modelId is a URI member (the URL path), not part of the JSON body
    _check_shape(body, shape, shapes, "", found, skip_required={"modelId"})
    return found


def _check_shape(value, name: str, shapes: dict, path: str, found: list, skip_required=()):
    shape = shapes[name]
    kind = shape["type"]
    if shape.get("document"):
        return  # a free JSON document (tool input, a JSON Schema, model-specific fields)
    if kind == "structure":
        if not isinstance(value, dict):
            found.append(f"{path}: expected an object for {name}")
            return
        members = shape.get("members", {})
        for key in value:
            if key not in members:
                found.append(f"{path}/{key}: not a member of {name}")
        for req in shape.get("required", []):
            if req not in value and req not in skip_required:
                found.append(f"{path}: {name} requires `{req}`")
        if shape.get("union") and len(value) != 1:
            found.append(f"{path}: union {name} needs exactly one member, got {sorted(value)}")
        for key, sub in value.items():
            if key in members:
                _check_shape(sub, members[key]["shape"], shapes, f"{path}/{key}", found)
    elif kind == "list":
        if not isinstance(value, list):
            found.append(f"{path}: expected a list for {name}")
            return
        for i, item in enumerate(value):
            _check_shape(item, shape["member"]["shape"], shapes, f"{path}/{i}", found)
    elif kind == "map":
        if not isinstance(value, dict):
            found.append(f"{path}: expected a map for {name}")
    elif kind == "string":
        if not isinstance(value, str):
            found.append(f"{path}: expected a string for {name}")
        elif "enum" in shape and value not in shape["enum"]:
            found.append(f"{path}: `{value}` is not one of {shape['enum']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            found.append(f"{path}: expected an integer for {name}")
    elif kind in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            found.append(f"{path}: expected a number for {name}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            found.append(f"{path}: expected a boolean for {name}")
    elif kind == "blob":
        if not isinstance(value, (str, bytes)):
            found.append(f"{path}: expected base64 bytes for {name}")
    # "document" shapes take any JSON value


# ---------------------------------------------------------------- a target's official schema, by its location


def response_errors(body: dict) -> list[str]:
    """OpenAI `CreateResponse` errors, with the input items checked one by one.

    `InputItem` is a oneOf whose discriminator (`type`) jsonschema ignores: a user
    message with a content list is both an `EasyInputMessage` and an `InputMessage`
    (both `type: "message"`), so the whole body fails as "valid under each of".
    So the body is checked without its items, a message against `EasyInputMessage`
    (what the emitter writes) and any other item against `InputItem`.
    """
    items = body.get("input")
    if not isinstance(items, list):
        return errors("openai", "CreateResponse", body)
    found = errors("openai", "CreateResponse", {**body, "input": []})
    for i, item in enumerate(items):
        schema = "EasyInputMessage" if isinstance(item, dict) and "role" in item else "InputItem"
        found += [f"input/{i}/{e}" for e in errors("openai", schema, item)]
    return found


#: a backend's official schema (its location under ../shared/refdata) -> the cut-down copy in tests/data
LOCAL_COPIES = {
    "openai/openapi.yaml": "openai/openapi.subset.json",
    "anthropic/openapi.json": "anthropic/openapi.subset.json",
    "mistral/openapi.yaml": "mistral/openapi.subset.json",
    "google/gemini-native.openapi.json": "google/gemini-native.openapi.subset.json",
    "aws/bedrock-runtime.service-2.json": "aws/bedrock-runtime.converse.subset.json",
}


def local_copy(location: str) -> Path:
    """Where the tests read a backend's official schema (`Backend.schema`'s location)."""
    return REFDATA / LOCAL_COPIES.get(location, location)


def body_errors(schema: tuple[str, str], body: dict) -> list[str]:
    """A body's errors against a backend's official schema (`Backend.schema`: a location under
    ../shared/refdata and the request's schema name), whatever its kind: OpenAPI, protos, Smithy,
    or Ollama's API page (a JSON Schema written from it, in tests/test_backend_ollama.py)."""
    location, name = schema
    if location == "google/protos":
        import proto_schema

        return proto_schema.errors(body, name)
    if location.startswith("aws/"):
        return bedrock_errors(body, name)
    if location == "ollama/api.md":
        from test_backend_ollama import errors as ollama_errors

        return ollama_errors(body)
    spec = next(key for key, (path, _urn) in SPECS.items() if path == local_copy(location))
    if name == "CreateResponse":
        return response_errors(body)
    if spec == "gemini":  # the model is the URL path: the body carries it only to be complete
        body = {k: v for k, v in body.items() if k != "model"}
    return errors(spec, name, body)
