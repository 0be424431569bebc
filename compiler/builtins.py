"""The built-in filters and functions of the expression language.

This table is the whole of what an expression can call besides fragments: a
prompt file can never run other code. Each entry says how it types (for the
checker) and how it runs (for the renderer). Documented in docs/language.md.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import attrs

from . import schema
from . import types as T


class FilterTypeError(Exception):
    """Raised by a `typing` function with a message for PP220."""


@attrs.frozen
class Builtin:
    name: str
    min_args: int
    max_args: int
    arg_types: tuple  # declared type per argument (checked with `assignable`)
    typing: Callable  # (input type or None, arg types) -> result type
    run: Callable  # (input value, *args) -> value
    doc: str


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _needs_text(t: T.Type) -> T.Type:
    if not T.is_text_like(t):
        raise FilterTypeError(f"expects text, got {t}")
    return T.STR


def _needs_list(t: T.Type) -> T.Type:
    t = T.strip_optional(t)
    if isinstance(t, (T.ListT, T.MessagesT, T.JsonT, T.UnknownT)):
        return t
    raise FilterTypeError(f"expects a list, got {t}")


def _item_of(t: T.Type) -> T.Type:
    t = _needs_list(t)
    if isinstance(t, T.ListT):
        return t.item
    if isinstance(t, T.MessagesT):
        return T.MESSAGE_RECORD
    return t


def _default_typing(t: T.Type, args: list) -> T.Type:
    inner = T.strip_optional(t)
    return inner if T.assignable(args[0], inner) or isinstance(args[0], T.UnknownT) else T.JSON


def _length_typing(t: T.Type, args) -> T.Type:
    s = T.strip_optional(t)
    if s == T.STR or isinstance(s, (T.ListT, T.MapT, T.MessagesT, T.RecordT, T.JsonT, T.UnknownT)):
        return T.INT
    raise FilterTypeError(f"expects text, a list or a map, got {t}")


def _bullets(items, marker="-") -> str:
    return "\n".join(f"{marker} {_text(i)}" for i in items or ())


def _numbered(items) -> str:
    return "\n".join(f"{n}. {_text(i)}" for n, i in enumerate(items or (), 1))


def _indent(value, width=2) -> str:
    pad = " " * int(width)
    return "\n".join(pad + line if line else line for line in _text(value).split("\n"))


def _truncate(value, length=80, end="...") -> str:
    s = _text(value)
    return s if len(s) <= length else s[: max(0, length - len(end))] + end


def _json(value, indent=None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


FILTERS: dict[str, Builtin] = {b.name: b for b in (
    Builtin("json", 0, 1, (T.INT,), lambda t, a: T.STR, _json,
            "The value as JSON (`| json(2)` indents)."),
    Builtin("upper", 0, 0, (), lambda t, a: _needs_text(t), lambda v: _text(v).upper(), "Upper case."),
    Builtin("lower", 0, 0, (), lambda t, a: _needs_text(t), lambda v: _text(v).lower(), "Lower case."),
    Builtin("trim", 0, 0, (), lambda t, a: _needs_text(t), lambda v: _text(v).strip(), "Strip surrounding whitespace."),
    Builtin("default", 1, 1, (T.JSON,), _default_typing, lambda v, d: d if v is None else v,
            "The argument when the value is null or absent."),
    Builtin("join", 0, 1, (T.STR,), lambda t, a: (_needs_list(t), T.STR)[1],
            lambda v, sep="": sep.join(_text(i) for i in v or ()), "Join list items with a separator."),
    Builtin("length", 0, 0, (), _length_typing, lambda v: len(v or ()), "Number of items or characters."),
    Builtin("first", 0, 0, (), lambda t, a: T.OptionalT(_item_of(t)), lambda v: v[0] if v else None,
            "The first item, or null."),
    Builtin("last", 0, 0, (), lambda t, a: T.OptionalT(_item_of(t)), lambda v: v[-1] if v else None,
            "The last item, or null."),
    Builtin("indent", 0, 1, (T.INT,), lambda t, a: _needs_text(t), _indent, "Indent every non-empty line."),
    Builtin("truncate", 1, 2, (T.INT, T.STR), lambda t, a: _needs_text(t), _truncate,
            "`| truncate(80)` cuts text to 80 characters, ending with `...` (or `| truncate(80, \"…\")`)."),
    Builtin("bullets", 0, 1, (T.STR,), lambda t, a: (_needs_list(t), T.STR)[1], _bullets,
            "One `- item` line per item."),
    Builtin("numbered", 0, 0, (), lambda t, a: (_needs_list(t), T.STR)[1], _numbered,
            "One `1. item` line per item."),
    Builtin("string", 0, 0, (), lambda t, a: T.STR, _text, "The value as text."),
)}


def _type_arg(args: list) -> T.Type:
    if not isinstance(args[0], (T.TypeValueT, T.MetaTypeT, T.UnknownT)):
        raise FilterTypeError(f"expects a type name, got {args[0]}")
    return T.STR


FUNCTIONS: dict[str, Builtin] = {b.name: b for b in (
    Builtin("schema", 1, 1, (T.META_TYPE,), lambda t, a: _type_arg(a),
            lambda ty: json.dumps(schema.json_schema(ty), indent=2, ensure_ascii=False),
            "The JSON Schema of a type, as indented JSON text."),
    Builtin("example", 1, 1, (T.META_TYPE,), lambda t, a: _type_arg(a),
            lambda ty: json.dumps(schema.example_value(ty), indent=2, ensure_ascii=False),
            "An example JSON value of a type."),
    Builtin("notation", 1, 1, (T.META_TYPE,), lambda t, a: _type_arg(a), schema.notation,
            "A compact typed notation of a type."),
)}
