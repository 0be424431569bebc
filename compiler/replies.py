"""Replies: a provider's response turned back into neutral values.

`read(backend, reply)` gives the reply's text and tool calls; `parse_output`
turns the text into the typed output value: JSON validated against the output
type's schema. A target with native structured output returns bare JSON; in
fallback mode (the schema was written into the prompt) the JSON is looked for
in the text: inside code fences, or the first balanced object or array.
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
    """Strict mode sends optional fields as null; the output type has them absent."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    required = set(schema.get("required", ()))
    props = schema.get("properties", {})
    return {k: _drop_strict_nulls(v, props.get(k, {})) for k, v in value.items() if not (v is None and k not in required)}


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
