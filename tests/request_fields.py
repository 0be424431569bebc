"""Make `backends/request_fields.json` from the official request schemas (tests/data/refdata).

For each target with a known request schema: every top-level field name of the request, and
the JSON Schema of each field polyprompt does not write itself (a `body` setting or
`extra_body` may add those), `$ref`s pointing into the `$defs` it ships; descriptions and
examples left out, OpenAPI 3.0's `nullable: true` made `anyOf [..., null]` as jsonschema reads it.
tests/test_body_fields.py checks the shipped file against this (`--update-goldens` rewrites it).
"""
from __future__ import annotations

import json

from helpers import REFDATA

#: target -> (spec file under tests/data/refdata, the request schema)
SOURCES = {
    "openai-chat": ("openai/openapi.subset.json", "CreateChatCompletionRequest"),
    "openai-responses": ("openai/openapi.subset.json", "CreateResponse"),
    "anthropic": ("anthropic/openapi.subset.json", "CreateMessageParams"),
}
#: annotations that do not constrain a value
DROPPED = {"description", "example", "examples", "title", "deprecated", "x-stainless-const", "x-oaiMeta",
           "x-oaiTypeLabel", "x-oaiExpandable", "x-stainless-naming", "markdownDescription"}
REF = "#/components/schemas/"


def extract(target: str, owned) -> dict:
    """The shipped record of one target: its schema name, field names, field schemas and `$defs`."""
    path, name = SOURCES[target]
    schemas = json.loads((REFDATA / path).read_text(encoding="utf-8"))["components"]["schemas"]
    fields = _properties(schemas, schemas[name], {})
    taken = {k: v for k, v in sorted(fields.items()) if k not in owned}
    defs: dict = {}
    todo = _refs(taken)
    while todo:
        ref = todo.pop()
        if ref not in defs:
            defs[ref] = schemas[ref]
            todo |= _refs(schemas[ref])
    return {"schema": name, "fields": sorted(fields),
            "schemas": {k: _clean(v) for k, v in taken.items()},
            "$defs": {k: _clean(defs[k]) for k in sorted(defs)}}


def _properties(schemas: dict, node: dict, out: dict) -> dict:
    if "$ref" in node:
        return _properties(schemas, schemas[node["$ref"][len(REF):]], out)
    for part in node.get("allOf", ()):
        _properties(schemas, part, out)
    out.update(node.get("properties", {}))
    return out


def _refs(node) -> set:
    if isinstance(node, dict):
        found = {node["$ref"][len(REF):]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for k, v in node.items() if k != "$ref"))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _clean(node):
    if isinstance(node, list):
        return [_clean(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _clean(v) for k, v in node.items() if k not in DROPPED and k != "discriminator"}
    if isinstance(out.get("$ref"), str):
        out["$ref"] = "#/$defs/" + out["$ref"][len(REF):]
    if "oneOf" in node and "discriminator" in node:
        out["anyOf"] = out.pop("oneOf")  # overlapping variants told apart by the discriminator
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def shipped_data(owned_by_target: dict) -> str:
    """The text of backends/request_fields.json."""
    data = {t: extract(t, owned_by_target[t]) for t in SOURCES}
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
