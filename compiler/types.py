"""Semantic types: what the checker computes for declarations and expressions.

Records and enums are compared by identity (one object per declaration), so
recursive records work; every other type is a frozen value. `UNKNOWN` stands
in after an error and is compatible with everything, so one mistake does not
cascade into many.
"""
from __future__ import annotations

from typing import Union

import attrs


@attrs.frozen
class Prim:
    """str, int, float, bool or null."""

    name: str

    def __str__(self) -> str:
        return self.name


@attrs.frozen
class JsonT:
    """Any JSON value (`json`): fields and items of it are `json` too."""

    def __str__(self) -> str:
        return "json"


@attrs.frozen
class UnknownT:
    """The type of an expression that already has an error."""

    def __str__(self) -> str:
        return "unknown"


@attrs.frozen
class ListT:
    """`list[T]`."""
    item: "Type"

    def __str__(self) -> str:
        return f"list[{self.item}]"


@attrs.frozen
class MapT:
    """`map[T]`: a JSON object with string keys and values of one type."""
    value: "Type"

    def __str__(self) -> str:
        return f"map[{self.value}]"


@attrs.frozen
class OptionalT:
    """`T?`: a value of type T, or null."""
    inner: "Type"

    def __str__(self) -> str:
        return f"{self.inner}?"


@attrs.frozen
class LiteralT:
    """A union of literal values: `"c" | "f"`, `1 | 2`."""

    values: tuple

    def __str__(self) -> str:
        import json

        return " | ".join(json.dumps(v) for v in self.values)


@attrs.frozen
class MediaT:
    """image, audio or file."""

    kind: str

    def __str__(self) -> str:
        return self.kind


@attrs.frozen
class MessagesT:
    """A conversation: a list of messages with roles, parts, tool calls."""

    def __str__(self) -> str:
        return "messages"


@attrs.define(eq=False)
class FieldT:
    """A field of a record type: its name, type, whether it is required, description and default."""
    name: str
    type: "Type"
    required: bool
    description: str | None = None
    default: object = None
    has_default: bool = False


@attrs.define(eq=False)
class RecordT:
    """A declared record; `fields` is filled after all names are known."""

    name: str
    fields: dict[str, FieldT] = attrs.field(factory=dict)
    description: str | None = None

    def __str__(self) -> str:
        return self.name


@attrs.define(eq=False)
class EnumT:
    """A declared enum: its members, each with its description."""
    name: str
    members: dict[str, str | None] = attrs.field(factory=dict)  # member -> description
    description: str | None = None

    def __str__(self) -> str:
        return self.name


@attrs.frozen
class TypeValueT:
    """The type of a type name used as a value, e.g. `schema(Triage)`."""

    of: "Type"

    def __str__(self) -> str:
        return f"type {self.of}"


@attrs.frozen
class MetaTypeT:
    """The declared type `type` of a fragment parameter that takes a type."""

    def __str__(self) -> str:
        return "type"


Type = Union[Prim, JsonT, UnknownT, ListT, MapT, OptionalT, LiteralT, MediaT, MessagesT, RecordT, EnumT,
             TypeValueT, MetaTypeT]

STR, INT, FLOAT, BOOL, NULL = Prim("str"), Prim("int"), Prim("float"), Prim("bool"), Prim("null")
JSON, UNKNOWN, MESSAGES, META_TYPE = JsonT(), UnknownT(), MessagesT(), MetaTypeT()
BUILTIN_TYPES: dict[str, Type] = {
    "str": STR, "int": INT, "float": FLOAT, "bool": BOOL, "json": JSON, "messages": MESSAGES,
    "image": MediaT("image"), "audio": MediaT("audio"), "file": MediaT("file"), "type": META_TYPE,
}
GENERICS = {"list": 1, "map": 1}

#: The record a message of a `messages` value looks like in expressions.
MESSAGE_RECORD = RecordT("Message")
MESSAGE_RECORD.fields = {
    "role": FieldT("role", LiteralT(("system", "user", "assistant", "tool")), True),
    "content": FieldT("content", STR, True),
}


def strip_optional(t: Type) -> Type:
    """The type inside `T?`, or the type itself when it is not optional."""
    return t.inner if isinstance(t, OptionalT) else t


def is_text_like(t: Type) -> bool:
    """Can this value be interpolated as text without a filter?"""
    t = strip_optional(t)
    return isinstance(t, (Prim, EnumT, LiteralT, UnknownT, JsonT))


def literal_type(value) -> Type:
    """The type of a literal value (a JSON string, number, boolean or null)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    return STR


def assignable(value: Type, target: Type) -> bool:
    """Can a value of type `value` be passed where `target` is declared?"""
    if isinstance(value, UnknownT) or isinstance(target, (UnknownT, JsonT)) or isinstance(value, JsonT):
        return True
    if value == target or value is target:
        return True
    if isinstance(target, MetaTypeT):
        return isinstance(value, TypeValueT)
    if isinstance(target, OptionalT):
        return value == NULL or assignable(strip_optional(value), target.inner)
    if isinstance(value, OptionalT):
        return False
    if target == FLOAT and value == INT:
        return True
    if isinstance(target, ListT) and isinstance(value, ListT):
        return assignable(value.item, target.item)
    if isinstance(target, MapT) and isinstance(value, MapT):
        return assignable(value.value, target.value)
    if isinstance(target, LiteralT) and isinstance(value, LiteralT):
        return set(value.values) <= set(target.values)
    if isinstance(target, (EnumT, LiteralT)) and value == STR:
        return False
    if target == STR and (isinstance(value, EnumT) or (isinstance(value, LiteralT)
                                                       and all(isinstance(v, str) for v in value.values))):
        return True  # enum members and string literals are strings
    if isinstance(value, LiteralT) and target in (INT, FLOAT) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values):
        return target == FLOAT or all(isinstance(v, int) for v in value.values)
    if isinstance(target, ListT) and value == ListT(UNKNOWN):
        return True
    return False


def comparable(a: Type, b: Type) -> bool:
    """Can `a == b` ever be true?"""
    a, b = strip_optional(a), strip_optional(b)
    if NULL in (a, b):
        return True
    if assignable(a, b) or assignable(b, a):
        return True
    numeric = (INT, FLOAT)
    if a in numeric and b in numeric:
        return True
    text_like = lambda t: t == STR or isinstance(t, (EnumT, LiteralT))  # noqa: E731
    return text_like(a) and text_like(b)
