"""Generated input checks: one Python function per prompt that says whether the
inputs surely fit the parameter types.

It answers yes or no, without collecting problems, so the common case (valid
inputs) costs a few attribute tests; on "no", `compiler.inputs.validate`
runs and lists every problem with its path. Records and lists are checked by
loops in the generated code; a recursive record, media and `messages` values
fall back to the full check.
"""
from __future__ import annotations

from .. import types as T
from ..runtime import load_check


class _Fallback(Exception):
    pass


def compile_check(params: list[tuple[str, T.Type, bool]]):
    """`check(inputs) -> bool` for `(name, type, required)` parameters, or None."""
    gen = _Gen()
    names = frozenset(n for n, _t, _r in params)
    required = frozenset(n for n, _t, r in params if r)
    lines = ["def check(inputs):", "    keys = inputs.keys()", f"    if not ({gen.const(required)} <= keys <= {gen.const(names)}):",
             "        return False"]
    try:
        for name, t, is_required in params:
            inner = gen.check("v", t, 2 if not is_required else 1, frozenset())
            if not inner:
                continue
            if is_required:  # present: the key check above saw to it
                lines += [f"    v = inputs[{name!r}]"] + inner
            else:
                lines += [f"    if {name!r} in keys:", f"        v = inputs[{name!r}]"] + inner
    except _Fallback:
        return None
    lines.append("    return True")
    source = "\n".join([f"{k} = {v!r}" for k, v in gen.globals.items()] + lines)
    try:
        check = load_check(source)
    except (SyntaxError, RecursionError, MemoryError):  # past Python's static limits (20 nested loops): the full check
        return None
    check.source = source  # constants are literals: session/cache.py may store it
    return check



class _Gen:
    def __init__(self):
        self.globals: dict = {}
        self.count = 0

    def const(self, value) -> str:
        self.count += 1
        name = f"_k{self.count}"
        self.globals[name] = value
        return name

    def fresh(self) -> str:
        self.count += 1
        return f"x{self.count}"

    def check(self, var: str, t: T.Type, depth: int, seen: frozenset) -> list[str]:
        pad = "    " * depth
        fail = pad + "    return False"
        if isinstance(t, T.UnknownT):
            return []
        if isinstance(t, T.JsonT):  # any JSON, but Unicode text and not too deep
            return [pad + f"if _json_not_text({var}):", fail]
        if isinstance(t, T.OptionalT):
            inner = self.check(var, t.inner, depth + 1, seen)
            return [pad + f"if {var} is not None:"] + inner if inner else []
        if isinstance(t, T.Prim):
            kinds = {"str": "str", "bool": "bool", "int": "int", "float": "(int, float)"}.get(t.name)
            if kinds is None:
                raise _Fallback
            test = f"{var}.__class__ is not {kinds}" if "(" not in kinds else f"{var}.__class__ not in {kinds}"
            if kinds == "str":  # text, not half a surrogate pair (isascii() is a flag test)
                test += f" or not {var}.isascii() and _lone_surrogate({var})"
            if t.name == "float":  # a number JSON can write: not NaN or infinite
                test += f" or {var}.__class__ is float and not _finite({var})"
            return [pad + f"if {test}:", fail]
        if isinstance(t, T.EnumT):
            return [pad + f"if {var}.__class__ is not str or {var} not in {self.const(frozenset(t.members))}:", fail]
        if isinstance(t, T.LiteralT):
            return [pad + f"if {var}.__class__ not in (str, int, float) or {var} not in {self.const(t.values)}:", fail]
        if isinstance(t, T.ListT):
            item = self.fresh()
            body = self.check(item, t.item, depth + 1, seen)
            return [pad + f"if {var}.__class__ is not list:", fail] + (
                [pad + f"for {item} in {var}:"] + body if body else [])
        if isinstance(t, T.MapT):
            item = self.fresh()
            body = self.check(item, t.value, depth + 1, seen)
            return [pad + f"if {var}.__class__ is not dict:", fail] + (
                [pad + f"for {item} in {var}.values():"] + body if body else [])
        if isinstance(t, T.RecordT):
            if id(t) in seen:
                raise _Fallback  # recursive: the full check handles it
            required = frozenset(f.name for f in t.fields.values() if f.required)
            lines = [pad + f"if {var}.__class__ is not dict or not ({self.const(required)} <= {var}.keys() <= "
                           f"{self.const(frozenset(t.fields))}):", fail]
            for f in t.fields.values():
                if f.required and isinstance(f.type, T.Prim) and f.type.name in ("bool", "int"):
                    lines += [pad + f"if {var}[{f.name!r}].__class__ is not {f.type.name}:", fail]  # the common case, inline
                    continue
                value = self.fresh()
                inner = self.check(value, f.type, depth + (0 if f.required else 1), seen | {id(t)})
                if not inner:
                    continue
                if f.required:
                    lines += [pad + f"{value} = {var}[{f.name!r}]"] + inner
                else:
                    lines += [pad + f"if {f.name!r} in {var}:", pad + f"    {value} = {var}[{f.name!r}]"] + inner
            return lines
        raise _Fallback  # media, messages
