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
    from .codegen import Exprs, Source
    from .diagnostics import Sink
    from .loader import load
    from .runtime import load_source
    from .statics import Statics

    sink = Sink()
    program = load(stdlib.find("std.output"), sink)
    scopes = check_program(program, sink)
    scope = scopes[program.entry.key]
    decl = scope.own["json_schema"].decl
    source = Source()
    writer = Exprs(source, Statics(scope, scopes), {"t": "t", "target": "v_target"})
    text = source.text("def render(t, v_target=None):", *writer.template(decl.text, 1, "text"), "    return text")
    return load_source(text, source.globals, "std.output.json_schema")


@functools.lru_cache(maxsize=256)
def output_instructions(output_type: T.Type) -> str:
    """`std.output.json_schema(T)` rendered for a type: a pure function of the (frozen, hashable) type,
    so rendered once per type, not on every compile."""
    return _json_schema_fragment()(output_type)
