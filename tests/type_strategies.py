"""Hypothesis strategies over output types (`compiler.types`) and their values.

`output_types()` draws types a prompt may return: primitives, literals, enums, `json`, lists,
maps, optionals and records (nested, with optional fields, defaults and descriptions, sometimes
recursive). `value_of(data, t)` draws a value of a type; `strict_reply(value, t)` is that value as
OpenAI's strict mode sends it: every absent field of every record written as null.
"""
from __future__ import annotations

import itertools

from hypothesis import strategies as st

from polyprompt.compiler import types as T

NAMES = st.sampled_from(["a", "b", "c", "name", "tax_rate", "items", "note", "kind"])
_ids = itertools.count()

LEAVES = st.sampled_from([T.STR, T.INT, T.FLOAT, T.BOOL, T.LiteralT(("low", "high")), T.LiteralT((1, 2, 3)),
                          T.LiteralT(("x", 1)), T.MediaT("image")]) | st.builds(
    lambda n: T.EnumT(f"Level{next(_ids)}", {f"m{i}": ("a member" if i == 0 else None) for i in range(n)},
                      description="a level" if n == 2 else None), st.integers(1, 4))


def _record(fields: list[tuple[str, T.Type, bool, bool]], recursive: str | None, described: bool) -> T.RecordT:
    record = T.RecordT(f"Rec{next(_ids)}", description="a record" if described else None)
    for name, t, required, described_field in fields:
        if name not in record.fields:
            record.fields[name] = T.FieldT(name, t, required=required,
                                           description="what it is" if described_field else None)
    if recursive == "list":
        record.fields["children"] = T.FieldT("children", T.ListT(record), required=False, default=[],
                                             has_default=True)
    elif recursive == "optional":
        record.fields["parent"] = T.FieldT("parent", record, required=False)
    return record


def _containers(inner):
    fields = st.lists(st.tuples(NAMES, inner, st.booleans(), st.booleans()), max_size=4)
    return (st.builds(T.ListT, inner) | st.builds(T.MapT, inner) | st.builds(T.OptionalT, inner)
            | st.builds(_record, fields, st.sampled_from([None, None, "list", "optional"]), st.booleans()))


def output_types(json: bool = True):
    """Types a prompt may return (`json` anywhere when `json`)."""
    leaves = LEAVES | st.just(T.JSON) if json else LEAVES
    return st.recursive(leaves, _containers, max_leaves=8)


def record_types(json: bool = True):
    """Record types (with nested types of any kind)."""
    inner = output_types(json)
    return st.builds(_record, st.lists(st.tuples(NAMES, inner, st.booleans(), st.booleans()), min_size=1, max_size=5),
                     st.sampled_from([None, "list", "optional"]), st.booleans())


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
                           lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner,
                                                                                        max_size=2), max_leaves=4)


def value_of(data, t: T.Type, depth: int = 0):
    """A value of `t` drawn from `data`; an optional field that may be null is never left out (strict
    mode could not tell the two apart), the others may be."""
    if isinstance(t, T.Prim):
        return data.draw({"str": st.text(max_size=4), "int": st.integers(-9, 9), "bool": st.booleans(),
                          "float": st.floats(-10, 10, allow_nan=False), "null": st.none()}[t.name])
    if isinstance(t, T.LiteralT):
        return data.draw(st.sampled_from(t.values))
    if isinstance(t, T.EnumT):
        return data.draw(st.sampled_from(list(t.members)))
    if isinstance(t, T.MediaT):
        return f"https://example.com/{t.kind}.png"
    if isinstance(t, T.OptionalT):
        return None if depth > 3 or data.draw(st.booleans()) else value_of(data, t.inner, depth + 1)
    if isinstance(t, T.ListT):
        n = 0 if depth > 3 else data.draw(st.integers(0, 2))
        return [value_of(data, t.item, depth + 1) for _ in range(n)]
    if isinstance(t, T.MapT):
        keys = [] if depth > 3 else data.draw(st.lists(st.text(max_size=3), max_size=2, unique=True))
        return {k: value_of(data, t.value, depth + 1) for k in keys}
    if isinstance(t, T.RecordT):
        out = {}
        for f in t.fields.values():
            if f.required or takes_null(f.type) or (depth <= 3 and data.draw(st.booleans())):
                out[f.name] = value_of(data, f.type, depth + 1)
        return out
    return data.draw(JSON_VALUES)


def takes_null(t: T.Type) -> bool:
    """May a value of `t` be null?"""
    return isinstance(t, (T.OptionalT, T.JsonT)) or t == T.NULL


def strict_reply(value, t: T.Type):
    """`value` as OpenAI's strict mode writes it: every record's absent fields null, at every depth."""
    if value is None:
        return None
    if isinstance(t, T.OptionalT):
        return strict_reply(value, t.inner)
    if isinstance(t, T.ListT):
        return [strict_reply(v, t.item) for v in value]
    if isinstance(t, T.MapT):
        return {k: strict_reply(v, t.value) for k, v in value.items()}
    if isinstance(t, T.RecordT):
        return {name: strict_reply(value.get(name), f.type) for name, f in t.fields.items()}
    return value
