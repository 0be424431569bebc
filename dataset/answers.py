"""The text of an answer, as the target's model is to write it.

A value of the output type becomes the exact text the reply reader turns back into that value
(`compiler.replies.parse_output`): plain text for `-> str`, JSON for structured outputs, wrapped
as `{"value": ...}` where the target's schema dialect needs an object at the root, the bare word
of an enum where the target's instructions ask for one of the allowed words. A test proves
the round trip for every format and output type: `parse_output(answer_text(v)) == v`.
"""
from __future__ import annotations

import json
from typing import Any

from ..compiler.memo import by_identity


def answer_text(value: Any, output: Any, backend: Any = None) -> str:
    """The reply text that reads back as `value` for a compiled request's `output` (an IR Output),
    as the target's model is told to write it: a target without native structured output whose
    compact instructions list the allowed words is answered with the bare word."""
    if output is not None and not output.is_text and type(value) in _SCALARS:  # labels repeat: made once
        return _scalar_text(output, (backend, type(value), value))
    return _answer_text(value, output, backend)


def _answer_text(value: Any, output: Any, backend: Any) -> str:
    if output is None or output.is_text:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and backend is not None and _told(output, backend):
        return value
    if output.wrapped is not None:
        value = {output.wrapped: value}
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _told(output: Any, backend: Any) -> bool:
    """`_told_words`, once per output and backend (every row of a dataset asks the same)."""
    return _told_cached(output, backend)


def _told_words(output: Any, backend: Any) -> bool:
    """Whether the target's instructions ask for one of the allowed words (an enum, compact style,
    no native structured output)."""
    from ..compiler.schema import compact_form

    return (backend.caps.structured_output is None and backend.options.get("output_instructions", "compact")
            == "compact" and compact_form(output.type) == "words")


_told_cached = by_identity(_told_words)
#: answer types whose text depends on the value alone
_SCALARS = frozenset({str, int, float, bool})
_scalar_text = by_identity(lambda output, key: _answer_text(key[2], output, key[0]), limit=4096)


class ToolCalls(tuple):
    """An answer that calls tools: `(name, arguments, id or None)` for each call, in order (several
    are parallel calls). The answer column holds `{"name": ..., "arguments": {...}}` (arguments
    an object or its JSON text, as OpenAI writes them; an optional `id`), OpenAI's own call shape
    `{"type": "function", "function": {"name", "arguments"}, "id"?}`, or a list of either."""

    __slots__ = ()


#: the keys of a call written `{"name", "arguments"}` and of OpenAI's `{"function": {...}}` shape
_FLAT_KEYS = frozenset({"name", "arguments", "id", "type"})
_WRAPPED_KEYS = frozenset({"function", "id", "type"})


def is_tool_call(value: Any) -> bool:
    """Whether a value has the shape of a tool-call answer (one call, or a non-empty list of calls)."""
    if isinstance(value, list):
        return bool(value) and all(_is_call(v) for v in value)
    return _is_call(value)


def _is_call(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    keys = value.keys()
    return ({"name", "arguments"} <= keys <= _FLAT_KEYS
            or "function" in keys and keys <= _WRAPPED_KEYS and isinstance(value["function"], dict))


def tool_calls(value: Any) -> ToolCalls:
    """The calls of a value `is_tool_call` accepts; ValueError `(path, reason)` for a malformed one."""
    items = value if isinstance(value, list) else [value]
    calls = []
    for i, item in enumerate(items):
        where = f"[{i}]" if isinstance(value, list) else ""
        calls.append(_call(item, where))
    return ToolCalls(calls)


def _call(item: dict, where: str) -> tuple[str, dict, str | None]:
    call_id, kind = item.get("id"), item.get("type", "function")
    if "function" in item:
        where, item = where + ".function", item["function"]
    name, arguments = item.get("name"), item.get("arguments")
    if kind != "function":
        raise ValueError(where + ".type", f"a tool call's type is `function`, not {json.dumps(kind)}")
    if not isinstance(name, str) or not name:
        raise ValueError(where + ".name", "a tool call names its tool (text)")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as err:  # a number of over 4,300 digits, nesting too deep
            why = "nests too deep" if isinstance(err, RecursionError) else "is not JSON"
            raise ValueError(where + ".arguments", f"the arguments' text {why}") from None
    if not isinstance(arguments, dict):
        raise ValueError(where + ".arguments", "a tool call's arguments are an object")
    if call_id is not None and not (isinstance(call_id, str) and call_id):
        raise ValueError(where + ".id", "a tool call's id is text")
    return name, arguments, call_id
