"""Replies: a provider's response turned back into neutral values.

`read(backend, reply)` gives the reply's text and tool calls; `parse_output`
turns the text into the typed output value: JSON validated against the output
type's schema. A target with native structured output returns bare JSON; in
fallback mode (the schema was written into the prompt) the JSON is looked for
in the text: inside code fences, or the first balanced object or array; an enum's
answer may be the bare word the compact instructions ask for.
"""
from __future__ import annotations

import json
import re
from typing import Any

import attrs

from . import ir
from .memo import by_identity


class ReplyError(ValueError):
    """A reply that does not hold what the prompt asked for."""


@attrs.frozen
class Reply:
    """What a provider reply holds: its text, tool calls and finish reason, and the typed output value."""
    text: str
    tool_calls: tuple[ir.ToolCall, ...] = ()
    finish_reason: str | None = None
    #: the typed output value, when the prompt has an output type and the reply is text
    value: Any = None


def parse_output(text: str, output: ir.Output, tolerant: bool) -> Any:
    """The output value of a reply's text; ReplyError when it is missing or invalid."""
    if output.is_text:
        return text
    try:
        return _parse_json_output(text, output, tolerant)
    except RecursionError:  # a reply of thousands of nested brackets: Python's parsers recurse
        raise ReplyError("the reply's JSON nests too deep to read") from None
    except ValueError as err:  # not a JSON error: Python refuses integers of over 4,300 digits
        if isinstance(err, ReplyError):
            raise
        raise ReplyError(f"the reply's JSON holds a value Python cannot read ({err})") from None


def _parse_json_output(text: str, output: ir.Output, tolerant: bool) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        word = _answer_word(text, output) if tolerant else None
        if word is not None:  # the compact instructions ask for the bare word
            return word
        found = _extract_json(text) if tolerant else None
        if found is None:
            raise ReplyError(f"the reply is not JSON ({err.msg} at character {err.pos})"
                             + ("" if tolerant else "; the target was asked for JSON only")) from None
        value = found
    if output.wrapped is not None:
        if not isinstance(value, dict) or output.wrapped not in value:
            raise ReplyError(f"the reply should be an object with a `{output.wrapped}` field")
        value = value[output.wrapped]
    return typed_value(value, output)


def typed_value(value: Any, output: ir.Output) -> Any:
    """A reply's JSON value as a value of the output type (strict mode's nulls for absent fields
    dropped); ReplyError when it is not one."""
    value = _drop_strict_nulls(value, output.type_schema)
    _check_value(value, output)
    return value


def _answer_word(text: str, output: ir.Output) -> str | None:
    """The allowed word a reply is, for an output of words (an enum): the whole reply but spaces,
    quotes, backticks and a final period; one that differs only in case counts when only one does."""
    from .schema import answer_words

    words = answer_words(output.type)
    said = text.strip().strip("`'\"").rstrip(".").strip()
    if not words or not said:
        return None
    if said in words:
        return said
    alike = [w for w in words if w.casefold() == said.casefold()]
    return alike[0] if len(alike) == 1 else None


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.S)


def _extract_json(text: str) -> Any | None:
    for m in _FENCE.finditer(text):
        try:
            return json.loads(m.group(1))
        except (json.JSONDecodeError, RecursionError):
            continue
    decoder = json.JSONDecoder()
    i = 0
    while (i := _next_opening(text, i)) >= 0:
        try:
            value, _end = decoder.raw_decode(text, i)
            return value
        except json.JSONDecodeError:
            i += 1
        except RecursionError:  # the brackets after this one nest as deep: none of them can start a value
            i += len(text[i:]) - len(text[i:].lstrip("{[ \t\r\n"))
    return None


def _next_opening(text: str, start: int) -> int:
    """The position of the next `{` or `[` from `start`, or -1."""
    found = [p for p in (text.find("{", start), text.find("[", start)) if p >= 0]
    return min(found) if found else -1


def _drop_strict_nulls(value: Any, schema: dict) -> Any:
    """Strict mode sends every absent optional field as null, at every depth: drop the null of a field
    the type has optional and whose own type takes no null (a null the type allows is a value, kept)."""
    return _without_nulls(value, schema, schema)


def _without_nulls(value: Any, node: Any, root: dict) -> Any:
    node = _resolved(node, root)
    if isinstance(value, dict):
        if isinstance(node.get("properties"), dict):
            return _record_without_nulls(value, node, root)
        if isinstance(node.get("additionalProperties"), dict):  # a map: its values
            return {k: _without_nulls(v, node["additionalProperties"], root) for k, v in value.items()}
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_without_nulls(v, node["items"], root) for v in value]
    branch = _branch_for(value, node, root)
    return value if branch is None else _without_nulls(value, branch, root)


def _record_without_nulls(value: dict, node: dict, root: dict) -> dict:
    required, props = set(node.get("required", ())), node["properties"]
    out = {}
    for key, v in value.items():
        sub = props.get(key)
        if sub is None:
            out[key] = v
        elif not (v is None and key not in required and not _takes_null(sub, root)):
            out[key] = _without_nulls(v, sub, root)
    return out


def _branch_for(value: Any, node: dict, root: dict, depth: int = 0) -> dict | None:
    """The `anyOf` branch an object or list value belongs to (optional records: `[record, null]`)."""
    kind = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else None
    for branch in node.get("anyOf") or ():
        resolved = _resolved(branch, root)
        if kind is not None and resolved.get("type") == kind:
            return branch
        if "anyOf" in resolved and depth < 50:  # an optional of an optional: its branches are this one's
            inner = _branch_for(value, resolved, root, depth + 1)
            if inner is not None:
                return inner
    return None


def _takes_null(node: Any, root: dict, depth: int = 0) -> bool:
    """May a value of this schema be null? (`{}`, a `json` field, takes anything.)"""
    node = _resolved(node, root)
    if depth > 50:  # a reference cycle with no type on the way: takes anything
        return True
    if "anyOf" in node:
        return any(_takes_null(b, root, depth + 1) for b in node["anyOf"])
    if "enum" in node:
        return None in node["enum"]
    if "const" in node:
        return node["const"] is None
    kind = node.get("type")
    return kind is None or kind == "null" or (isinstance(kind, list) and "null" in kind)


def _resolved(node: Any, root: dict) -> dict:
    """`node` with its `$ref` (`#` or `#/$defs/Name`, chains too) followed; {} for what is not a schema."""
    for _ in range(50):  # a chain of references, never a cycle in schemas the compiler writes
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str):
            break
        node = root if ref == "#" else (root.get("$defs") or {}).get(ref.rsplit("/", 1)[-1])
    return node if isinstance(node, dict) else {}


def _check_value(value: Any, output: ir.Output) -> None:
    """ReplyError unless `value` is a value of the output type (its JSON Schema)."""
    validator = _validator(output.type_schema, None)
    if validator.is_valid(value):
        return
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:10]]
        raise ReplyError(f"the reply does not match `{output.name}`'s output type:\n" + "\n".join(lines))


def _make_validator(schema: dict, _key: None) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema)


#: one validator per output schema (an output's schema is the same object on every reply)
_validator = by_identity(_make_validator)
