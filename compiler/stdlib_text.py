"""Text the compiler takes from the standard library.

For a target without native structured output, the output schema is written
into the prompt with `std.output.json_schema`, the same fragment an author can
call, so the wording lives in one place: stdlib/std/output.prompt.
"""
from __future__ import annotations

import functools

from .. import stdlib
from . import types as T


@functools.lru_cache(maxsize=1)
def _json_schema_fragment():
    from .check import check_program
    from .diagnostics import Sink
    from .evaluate import Compiler, FragmentCache
    from .loader import load

    sink = Sink()
    program = load(stdlib.find("std.output"), sink)
    scopes = check_program(program, sink)
    scope = scopes[program.entry.key]
    decl = scope.own["json_schema"].decl
    return Compiler(scope, scopes, FragmentCache()).template(decl.text, frozenset({"t", "target"}))


@functools.lru_cache(maxsize=256)
def output_instructions(output_type: T.Type) -> str:
    """`std.output.json_schema(T)` rendered for a type: a pure function of the (frozen, hashable) type,
    so rendered once per type, not on every compile."""
    return _json_schema_fragment()({"t": output_type})
