"""The built-in filters and functions of the expression language.

This table is the whole of what an expression can call besides fragments: a
prompt file can never run other code. Each entry says how it types (for the
checker) and how it runs (for the renderer). Documented in docs/language.md.
"""
from __future__ import annotations

import json
from typing import Any, Callable, cast

import attrs

from . import schema
from . import types as T
from .runtime import FILTERS as _RUN

# mypy infers the mixed table of lambdas and functions as `dict[str, function]`
RUN = cast("dict[str, Callable[..., Any]]", _RUN)


class FilterTypeError(Exception):
    """Raised by a `typing` function with a message for PP220."""


@attrs.frozen
class Builtin:
    """A built-in filter or function: its arity, argument types, how it types and how it runs, and its
    documentation."""
    name: str
    min_args: int
    max_args: int
    arg_types: tuple  # declared type per argument (checked with `assignable`)
    typing: Callable  # (input type or None, arg types) -> result type
    run: Callable  # (input value, *args) -> value
    doc: str


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


FILTERS: dict[str, Builtin] = {b.name: b for b in (
    Builtin("json", 0, 1, (T.INT,), lambda t, a: T.STR, RUN["json"],
            "The value as JSON (`| json(2)` indents)."),
    Builtin("upper", 0, 0, (), lambda t, a: _needs_text(t), RUN["upper"], "Upper case."),
    Builtin("lower", 0, 0, (), lambda t, a: _needs_text(t), RUN["lower"], "Lower case."),
    Builtin("trim", 0, 0, (), lambda t, a: _needs_text(t), RUN["trim"], "Strip surrounding whitespace."),
    Builtin("default", 1, 1, (T.JSON,), _default_typing, RUN["default"],
            "The argument when the value is null or absent."),
    Builtin("join", 0, 1, (T.STR,), lambda t, a: (_needs_list(t), T.STR)[1],
            RUN["join"], "Join list items with a separator."),
    Builtin("length", 0, 0, (), _length_typing, RUN["length"], "Number of items or characters."),
    Builtin("first", 0, 0, (), lambda t, a: T.OptionalT(_item_of(t)), RUN["first"],
            "The first item, or null."),
    Builtin("last", 0, 0, (), lambda t, a: T.OptionalT(_item_of(t)), RUN["last"],
            "The last item, or null."),
    Builtin("indent", 0, 1, (T.INT,), lambda t, a: _needs_text(t), RUN["indent"], "Indent every non-empty line."),
    Builtin("truncate", 1, 2, (T.INT, T.STR), lambda t, a: _needs_text(t), RUN["truncate"],
            "`| truncate(80)` cuts text to 80 characters, ending with `...` (or `| truncate(80, \"…\")`)."),
    Builtin("bullets", 0, 1, (T.STR,), lambda t, a: (_needs_list(t), T.STR)[1], RUN["bullets"],
            "One `- item` line per item."),
    Builtin("numbered", 0, 0, (), lambda t, a: (_needs_list(t), T.STR)[1], RUN["numbered"],
            "One `1. item` line per item."),
    Builtin("string", 0, 0, (), lambda t, a: T.STR, RUN["string"], "The value as text."),
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
