"""What rendered prompts call at run time: text conversion, the filters, and the
helpers of generated code.

Kept free of the compiler's types (and of attrs) so that a renderer loaded
from the compile cache needs nothing else: see session/cache.py.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

#: Half of a UTF-16 surrogate pair: what a JSON `\\ud800` escape without its other half leaves in a
#: string. Such a string is not Unicode text: no request body or tokenizer can carry it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def text_of(value: Any) -> str:
    """How a value reads inside text: strings verbatim, JSON spelling for the rest."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)  # what json.dumps writes for an int, without its encoder call
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _bullets(items, marker="-") -> str:
    return "\n".join(f"{marker} {text_of(i)}" for i in items or ())


def _numbered(items) -> str:
    return "\n".join(f"{n}. {text_of(i)}" for n, i in enumerate(items or (), 1))


def _indent(value, width=2) -> str:
    pad = " " * int(width)
    return "\n".join(pad + line if line else line for line in text_of(value).split("\n"))


def _truncate(value, length=80, end="...") -> str:
    s = text_of(value)
    return s if len(s) <= length else s[: max(0, length - len(end))] + end


def _json(value, indent=None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


#: The run-time side of every filter (the checker's side is in compiler/builtins.py).
FILTERS = {
    "json": _json,
    "upper": lambda v: text_of(v).upper(),
    "lower": lambda v: text_of(v).lower(),
    "trim": lambda v: text_of(v).strip(),
    "default": lambda v, d: d if v is None else v,
    "join": lambda v, sep="": sep.join(text_of(i) for i in v or ()),
    "length": lambda v: len(v or ()),
    "first": lambda v: v[0] if v else None,
    "last": lambda v: v[-1] if v else None,
    "indent": _indent,
    "truncate": _truncate,
    "bullets": _bullets,
    "numbered": _numbered,
    "string": text_of,
}


def copy_json(value: Any) -> Any:
    """A copy of a JSON tree's dicts and lists (scalars are immutable): every body a compile returns
    is its own, whatever the caller then changes in it."""
    kind = value.__class__
    if kind is dict:
        return {k: copy_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [copy_json(v) for v in value]
    return value


# ---------------------------------------------------------------- helpers of generated code


def get(obj, key):
    """`obj.key`: a field of a record (inputs are plain dicts: see compiler/inputs.py `plain`), else null."""
    return obj.get(key) if obj.__class__ is dict else None


def item(obj, key):
    """`obj[key]`: a field, a list item (negative from the end), else null."""
    if obj.__class__ is dict:
        return obj.get(key)
    if obj.__class__ is list and key.__class__ is int and -len(obj) <= key < len(obj):
        return obj[key]
    return None


def target_is(target, name) -> bool:
    """`target == "x"`: the target named x or of family x. Only the `target` name compares this way
    (decided when the prompt is compiled), so data shaped like a target record is just data."""
    return name.__class__ is str and (target["name"] == name or target["family"] == name)


def order(op: str, a, b) -> bool:
    """`a < b` and the like; false when the values do not compare (null against a number)."""
    try:
        return a < b if op == "<" else a <= b if op == "<=" else a > b if op == ">" else a >= b
    except TypeError:  # null against a number: false, as on the general path
        return False


def contains(container, value) -> bool:
    """`value in container`: a substring of a string, an item of a list, a key of a record; any
    other value (null, a number, a boolean: a `json` input can be anything) holds nothing."""
    kind = container.__class__
    if kind is str:
        return value.__class__ is str and value in container
    if kind is list:
        return value in container
    if kind is dict:
        return value.__class__ is str and value in container
    return False


#: The names generated code finds in its globals.
GLOBALS = {"_text": text_of, "_get": get, "_item": item, "_target_is": target_is, "_in": contains, "_order": order,
           "_FILTERS": FILTERS}


def load_source(source: str, extra: dict, name: str):
    """The `render` function of generated source (compiler/codegen/), with the helpers above."""
    namespace = {**GLOBALS, **extra}
    exec(compile(source, f"<polyprompt {name}>", "exec"), namespace)  # noqa: S102 (our own generated code)
    return namespace["render"]


_JSON_SCALARS = (str, int, float, bool, type(None))


def json_not_text(value: Any) -> bool:
    """Is a value not plain JSON data the render can take as it is? Half a surrogate pair in a string
    (or key), a NaN or infinite number, nesting deeper than 100, or any type but dict, list, str,
    int, float, bool and None
    (exactly: a subclass such as OrderedDict goes to the full check, which copies it as plain data)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = item.__class__
        if kind is str:
            if not item.isascii() and LONE_SURROGATE.search(item):
                return True
        elif kind is dict or kind is list:
            if depth > 100:  # compiler/inputs.py MAX_DEPTH
                return True
            children = [*item.keys(), *item.values()] if kind is dict else item
            stack.extend((child, depth + 1) for child in children)
        elif kind is float:
            if not math.isfinite(item):  # NaN and infinities: no JSON body can carry them
                return True
        elif kind not in _JSON_SCALARS:
            return True
    return False


def load_check(source: str):
    """The `check` function of generated input-check source (compiler/codegen/input_check.py)."""
    namespace: dict = {"_lone_surrogate": LONE_SURROGATE.search,  # read by the checks of `str` values,
                       "_finite": math.isfinite,  # of `float` values
                       "_json_not_text": json_not_text}  # and of `json` values
    exec(compile(source, "<polyprompt inputs>", "exec"), namespace)  # noqa: S102 (our own generated code)
    return namespace["check"]
