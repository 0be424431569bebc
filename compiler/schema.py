"""Types as JSON Schema, as an example JSON value, and as a compact notation.

The one mapping from polyprompt types to JSON Schema (draft 2020-12), written
out in docs/types.md. Records and enums become `$defs` entries referenced by
`$ref`; the root record is inlined at the top. Backends lower this schema to
each provider's dialect (issue 4); the stdlib's `std.output` shows it to models
through the `schema`, `example` and `notation` built-ins.
"""
from __future__ import annotations

import json

from . import types as T

MEDIA_TYPES = {"image": "image/*", "audio": "audio/*", "file": "application/octet-stream"}

MESSAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
        "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}, {"type": "null"}]},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
        "tool_call_id": {"type": "string"},
        "name": {"type": "string"},
    },
    "required": ["role"],
}


class _Defs(dict):
    """`$defs` being built: one entry per type object. Two types with one name
    (an imported `Item` and a local `Item`) get `Item` and `Item_2`."""

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[int, str] = {}

    def name_for(self, key: object, name: str) -> tuple[str, bool]:
        """The entry name for `key`, and whether it is new."""
        if id(key) in self.names:
            return self.names[id(key)], False
        unique, n = name, 1
        while unique in self.values_names():
            n += 1
            unique = f"{name}_{n}"
        self.names[id(key)] = unique
        return unique, True

    def values_names(self) -> set[str]:
        return set(self.names.values())


_MESSAGE_KEY = object()


def json_schema(t: T.Type) -> dict:
    """The JSON Schema of a type, with `$defs` for the named types it uses."""
    defs = _Defs()
    root = t if isinstance(t, (T.RecordT, T.EnumT)) else None
    body = _schema(t, defs, root, top=True)
    if defs:
        body = {**body, "$defs": dict(sorted(defs.items()))}
    return body


def _schema(t: T.Type, defs: _Defs, root, top: bool = False) -> dict:
    if isinstance(t, T.Prim):
        return {"type": {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "null": "null"}[t.name]}
    if isinstance(t, (T.JsonT, T.UnknownT)):
        return {}
    if isinstance(t, T.ListT):
        return {"type": "array", "items": _schema(t.item, defs, root)}
    if isinstance(t, T.MapT):
        return {"type": "object", "additionalProperties": _schema(t.value, defs, root)}
    if isinstance(t, T.OptionalT):
        return {"anyOf": [_schema(t.inner, defs, root), {"type": "null"}]}
    if isinstance(t, T.LiteralT):
        kinds = {_json_type(v) for v in t.values}
        out = {"type": kinds.pop()} if len(kinds) == 1 else {}
        return {**out, "enum": list(t.values)}
    if isinstance(t, T.MediaT):
        return {"type": "string", "format": "uri-reference", "contentMediaType": MEDIA_TYPES[t.kind]}
    if isinstance(t, T.MessagesT):
        name, new = defs.name_for(_MESSAGE_KEY, "Message")
        if new:
            defs[name] = MESSAGE_SCHEMA
        return {"type": "array", "items": {"$ref": f"#/$defs/{name}"}}
    if isinstance(t, (T.RecordT, T.EnumT)):
        if t is root and not top:
            return {"$ref": "#"}
        if top:
            return _named(t, defs, root)
        name, new = defs.name_for(t, t.name)
        if new:
            defs[name] = {}  # reserve first: records may refer to themselves
            defs[name] = _named(t, defs, root)
        return {"$ref": f"#/$defs/{name}"}
    return {}


def _named(t, defs, root) -> dict:
    if isinstance(t, T.EnumT):
        out: dict = {"type": "string", "enum": list(t.members)}
        described = [f"{m}: {d}" for m, d in t.members.items() if d]
        parts = [t.description.rstrip(".") + "." if t.description else None,
                 ("Members: " + "; ".join(described) + ".") if described else None]
        text = " ".join(p for p in parts if p)
        return {**out, "description": text} if text else out
    props = {}
    for f in t.fields.values():
        prop = _schema(f.type, defs, root)
        if f.description:
            prop = {**prop, "description": f.description}
        if f.has_default:
            prop = {**prop, "default": f.default}
        props[f.name] = prop
    out = {"type": "object", "properties": props, "required": [f.name for f in t.fields.values() if f.required],
           "additionalProperties": False}
    return {**out, "description": t.description} if t.description else out


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def example_value(t: T.Type, _seen: frozenset = frozenset()):
    """A small JSON value of the type that validates against its schema, for
    `example(T)`: defaults where declared; a recursive list stays empty."""
    if isinstance(t, T.Prim):
        return {"str": "text", "int": 0, "float": 0.0, "bool": True, "null": None}[t.name]
    if isinstance(t, T.ListT):
        if isinstance(t.item, T.RecordT) and id(t.item) in _seen:
            return []
        return [example_value(t.item, _seen)]
    if isinstance(t, T.MapT):
        return {"key": example_value(t.value, _seen)}
    if isinstance(t, T.OptionalT):
        return example_value(t.inner, _seen)
    if isinstance(t, T.LiteralT):
        return t.values[0]
    if isinstance(t, T.EnumT):
        return next(iter(t.members), "")
    if isinstance(t, T.MediaT):
        return f"https://example.com/{t.kind}"
    if isinstance(t, T.MessagesT):
        return [{"role": "user", "content": "text"}]
    if isinstance(t, T.RecordT):
        if id(t) in _seen:
            return None
        inner = _seen | {id(t)}
        return {f.name: f.default if f.has_default else example_value(f.type, inner) for f in t.fields.values()
                if f.required or f.has_default or not _recursive(f.type, inner)}
    return {}


def _recursive(t: T.Type, seen: frozenset) -> bool:
    t = T.strip_optional(t)
    return isinstance(t, T.RecordT) and id(t) in seen


def notation(t: T.Type, indent: str = "") -> str:
    """A compact typed notation, like `{ category: "billing" | "bug", urgent: bool }`."""
    return _notation(t, indent, frozenset())


def _notation(t: T.Type, indent: str, seen: frozenset) -> str:
    if isinstance(t, T.Prim):
        return {"str": "string", "int": "int", "float": "float", "bool": "bool", "null": "null"}[t.name]
    if isinstance(t, (T.JsonT, T.UnknownT)):
        return "any"
    if isinstance(t, T.ListT):
        return f"{_notation(t.item, indent, seen)}[]"
    if isinstance(t, T.MapT):
        return f"map<string, {_notation(t.value, indent, seen)}>"
    if isinstance(t, T.OptionalT):
        return f"{_notation(t.inner, indent, seen)} | null"
    if isinstance(t, T.LiteralT):
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in t.values)
    if isinstance(t, T.EnumT):
        return " | ".join(json.dumps(m) for m in t.members)
    if isinstance(t, T.MediaT):
        return t.kind
    if isinstance(t, T.MessagesT):
        return "message[]"
    if isinstance(t, T.RecordT):
        if id(t) in seen:
            return t.name
        inner_indent = indent + "  "
        lines = ["{"]
        for f in t.fields.values():
            line = f"{inner_indent}{f.name}{'' if f.required else '?'}: {_notation(f.type, inner_indent, seen | {id(t)})},"
            if f.description:
                line += f" // {f.description}"
            lines.append(line)
        lines.append(indent + "}")
        return "\n".join(lines)
    return "any"


def answer_words(t: T.Type) -> list[str] | None:
    """The words an answer of `t` is one of (an enum's members, a literal union of strings), or None."""
    if isinstance(t, T.EnumT) and t.members:
        return list(t.members)
    if isinstance(t, T.LiteralT) and t.values and all(isinstance(v, str) for v in t.values):
        return list(t.values)
    return None


def compact_form(t: T.Type) -> str:
    """How the compact output instructions write `t`: "words" (the allowed words: an enum), "line"
    (one line: a type whose notation fits on one, such as `int` or `string[]`), or "typed" (the
    notation of a record, one field a line)."""
    if answer_words(t) is not None:
        return "words"
    return "line" if "\n" not in notation(t) else "typed"
