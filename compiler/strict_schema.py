"""OpenAI's strict structured outputs: the rules a schema must meet to be sent with `strict: true`.

https://platform.openai.com/docs/guides/structured-outputs#supported-schemas (the same rules for
Chat Completions' `response_format` and the Responses API's `text.format`). A schema that breaks
one is refused with a 400 (`Invalid schema for response_format ...`), so `lower_output_schema`
checks the lowered schema with `strict_schema_problems` and sends it with `strict: false` (note
PP413) when the list is not empty:

- the root is an object, not `anyOf`;
- every object has `additionalProperties: false` and lists every property in `required`
  (an optional field is a required one that may be null);
- every schema has a `type` (one of `TYPES`, or a list of them), or is an `anyOf` or a `$ref`;
- only the keywords of `KEYWORDS`, `format` only with a value of `FORMATS`;
- a `$ref` is `#` or `#/$defs/<name>` of a definition that exists, with no keyword beside it;
  `$defs` only at the root;
- at most `MAX_PROPERTIES` object properties in all, `MAX_DEPTH` levels of nested objects,
  `MAX_ENUM_VALUES` enum values in all, `MAX_CHARS` characters of property names, definition
  names, enum and const values, and `MAX_LARGE_ENUM_CHARS` characters in one string enum of
  more than `LARGE_ENUM` values.
"""
from __future__ import annotations

from typing import Any, Iterator

#: the JSON types strict mode takes
TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
#: the keywords strict mode takes: structure, then the per-type ones the guide lists as supported
KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const",
                      "$ref", "$defs", "description", "title",
                      "pattern", "format",  # strings
                      "multipleOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",  # numbers
                      "minItems", "maxItems"})  # arrays
#: the string formats strict mode takes
FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
MAX_PROPERTIES = 5000
MAX_DEPTH = 10
MAX_ENUM_VALUES = 1000
MAX_CHARS = 120_000
LARGE_ENUM, MAX_LARGE_ENUM_CHARS = 250, 15_000


def strict_schema_problems(schema: Any) -> list[str]:
    """Every way `schema` breaks OpenAI's strict-mode rules (module docstring), each as
    `at <JSON pointer>: <rule>`; empty when it may be sent with `strict: true`."""
    if not isinstance(schema, dict):
        return ["at #: the schema is not an object"]
    problems = []
    if schema.get("type") != "object":
        problems.append("at #: the root must be an object (`type: \"object\"`), not "
                        + ("`anyOf`" if "anyOf" in schema else f"`{_shown(schema.get('type'))}`"))
    defs = schema.get("$defs", {})
    if not isinstance(defs, dict):
        problems.append("at #/$defs: `$defs` must map names to schemas")
        defs = {}
    for path, node in _nodes(schema, "#"):
        problems += [f"at {path}: {p}" for p in _node_problems(node, path, defs)]
    problems += _limit_problems(schema, defs)
    return problems


def _nodes(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every sub-schema with its JSON pointer, depth first (`$defs` entries included)."""
    yield path, node
    if not isinstance(node, dict):
        return
    for key in ("properties", "$defs"):
        if isinstance(node.get(key), dict):
            for name, sub in node[key].items():
                yield from _nodes(sub, f"{path}/{key}/{_escaped(name)}")
    if isinstance(node.get("anyOf"), list):
        for i, sub in enumerate(node["anyOf"]):
            yield from _nodes(sub, f"{path}/anyOf/{i}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _nodes(node[key], f"{path}/{key}")


def _node_problems(node: Any, path: str, defs: dict) -> list[str]:
    """The rules one schema (not its sub-schemas) breaks."""
    if not isinstance(node, dict):
        return [f"a schema must be an object, got `{_shown(node)}`"]
    out = [f"`{k}` is not supported" for k in node if k not in KEYWORDS]
    if "$defs" in node and path != "#":
        out.append("`$defs` only at the root")
    if "$ref" in node:
        return out + _ref_problems(node, defs)
    if "anyOf" in node:
        if not isinstance(node["anyOf"], list) or not node["anyOf"]:
            out.append("`anyOf` must be a non-empty list of schemas")
    else:
        out += _type_problems(node)
    if isinstance(node.get("format"), str) and node["format"] not in FORMATS:
        out.append(f"format `{node['format']}` is not supported")
    if _is_object(node):
        out += _object_problems(node)
    if "items" in node and not isinstance(node["items"], dict):
        out.append("`items` must be one schema")
    return out


def _type_problems(node: dict) -> list[str]:
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if kind is None:
        return ["no `type` (every schema needs one: a `json` value has none)"]
    if not kinds or not all(isinstance(k, str) and k in TYPES for k in kinds):
        return [f"`type` `{_shown(kind)}` is not one of {', '.join(sorted(TYPES))}"]
    return []


def _ref_problems(node: dict, defs: dict) -> list[str]:
    ref, out = node["$ref"], []
    if not (ref == "#" or isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs):
        out.append(f"`$ref` `{_shown(ref)}` names no definition (`#` or `#/$defs/<name>`)")
    beside = sorted(k for k in node if k != "$ref")
    if beside:
        out.append(f"no keyword may stand beside `$ref` ({', '.join(beside)})")
    return out


def _object_problems(node: dict) -> list[str]:
    out = []
    if node.get("additionalProperties") is not False:
        extra = node.get("additionalProperties")
        why = " (a `map` has open keys)" if isinstance(extra, dict) else ""
        out.append(f"an object needs `additionalProperties: false`, got `{_shown(extra)}`{why}")
    props = node.get("properties", {})
    if not isinstance(props, dict):
        return out + ["`properties` must map names to schemas"]
    required = node.get("required", [])
    missing = [name for name in props if name not in (required if isinstance(required, list) else ())]
    if missing:
        out.append(f"every property must be required (optional ones nullable): {', '.join(missing)} not in `required`")
    unknown = [name for name in required if name not in props] if isinstance(required, list) else []
    if unknown:
        out.append(f"`required` names what `properties` lacks: {', '.join(map(str, unknown))}")
    return out


def _is_object(node: dict) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def _limit_problems(schema: dict, defs: dict) -> list[str]:
    """The size limits: properties, nesting, enum values, characters."""
    props = enums = chars = 0
    out = []
    for path, node in _nodes(schema, "#"):
        if not isinstance(node, dict):
            continue
        names: list[str] = list(node["properties"]) if isinstance(node.get("properties"), dict) else []
        values: list = node["enum"] if isinstance(node.get("enum"), list) else []
        strings = [v for v in values if isinstance(v, str)]
        props, enums = props + len(names), enums + len(values)
        chars += sum(map(len, names)) + sum(map(len, strings)) + (sum(map(len, defs)) if path == "#" else 0)
        chars += len(node["const"]) if isinstance(node.get("const"), str) else 0
        if len(strings) > LARGE_ENUM and sum(map(len, strings)) > MAX_LARGE_ENUM_CHARS:
            out.append(f"at {path}: an enum of more than {LARGE_ENUM} strings may have at most "
                       f"{MAX_LARGE_ENUM_CHARS:,} characters in all, it has {sum(map(len, strings)):,}")
    depth = _depth(schema, defs, ())
    for count, limit, what in ((props, MAX_PROPERTIES, "object properties"), (depth, MAX_DEPTH, "levels of nested objects"),
                               (enums, MAX_ENUM_VALUES, "enum values"),
                               (chars, MAX_CHARS, "characters of names and enum values")):
        if count > limit:
            out.append(f"at #: at most {limit:,} {what}, the schema has {count:,}")
    return out


def _depth(node: Any, defs: dict, seen: tuple[str, ...]) -> int:
    """Levels of nested objects under `node`, following `$ref`s (a recursive one counts once)."""
    if not isinstance(node, dict):
        return 0
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref[8:] if ref.startswith("#/$defs/") else None
        if name is None or name in seen or name not in defs:
            return 0
        return _depth(defs[name], defs, seen + (name,))
    subs = [node.get("items"), node.get("additionalProperties")]
    subs += list(node["properties"].values()) if isinstance(node.get("properties"), dict) else []
    subs += node["anyOf"] if isinstance(node.get("anyOf"), list) else []
    inner = max((_depth(s, defs, seen) for s in subs), default=0)
    return inner + (1 if _is_object(node) else 0)


def _escaped(name: str) -> str:
    """A JSON pointer token (RFC 6901)."""
    return str(name).replace("~", "~0").replace("/", "~1")


def _shown(value: Any) -> str:
    """A value in a message, short."""
    import json

    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."
