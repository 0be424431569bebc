"""Text the compiler takes from the standard library.

For a target without native structured output, the output type is written
into the prompt with the `std.output` fragments (`json_schema`, or the one that
fits the type: `one_of`, `json_line`, `typed`), the same fragments an author can
call, so the wording lives in one place: stdlib/std/output.prompt.
"""
from __future__ import annotations

import functools
from typing import cast

from .. import stdlib
from . import ast, types as T


@functools.lru_cache(maxsize=None)
def _fragment(name: str):
    """`std.output.<name>` compiled to a Python function of its parameters."""
    from .check import check_program
    from .codegen import Exprs, Source
    from .diagnostics import Sink
    from .loader import load
    from .runtime import load_source
    from .statics import Statics

    sink = Sink()
    path = stdlib.find("std.output")
    assert path is not None  # the package ships it
    program = load(path, sink)
    scopes = check_program(program, sink)
    scope = scopes[program.entry.key]
    decl = cast(ast.FragmentDecl, scope.own[name].decl)
    assert decl.text is not None  # the std.output fragments are texts
    params = [p.name.name for p in decl.params]
    source = Source()
    writer = Exprs(source, Statics(scope, scopes), {**{p: f"p_{p}" for p in params}, "target": "v_target"})
    head = f"def render({', '.join(f'p_{p}' for p in params)}, v_target=None):"
    text = source.text(head, *writer.template(decl.text, 1, "text"), "    return text")
    return load_source(text, source.globals, f"std.output.{name}")


@functools.lru_cache(maxsize=256)
def output_instructions(output_type: T.Type) -> dict[str, str]:
    """The output type written as instructions, by style: "schema" is `std.output.json_schema(T)`;
    "compact" fits the type (`schema.compact_form`): `one_of` with an enum's words, `json_line` for a
    type of one line, `typed` for a record. A pure function of the (frozen, hashable) type, so
    rendered once per type, not on every compile."""
    from .schema import answer_words, compact_form

    form = compact_form(output_type)
    compact = (_fragment("one_of")(answer_words(output_type)) if form == "words"
               else _fragment("json_line" if form == "line" else "typed")(output_type))
    return {"schema": _fragment("json_schema")(output_type), "compact": compact}
