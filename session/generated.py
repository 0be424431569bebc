"""Generated code for one prompt: its input check and, for one target, its renderer.

`InputCheck` is the quick check of a prompt's inputs (compiler/codegen/input_check.py): inputs
that surely fit get their defaults without a problem list; anything else goes to the full check
(compiler/inputs.py), which lists every problem and copies the values as plain data.

`GeneratedPath` renders a prompt for one target with generated Python (compiler/codegen/messages.py)
straight into the target's message list, when the passes say they would leave those messages as
they are (`passes.text_turns_kept`). The rest of the body and the lowering report are those of a
first compile through the passes, copied into each body. tests/test_render_differential.py proves
it equal to the passes on random prompts and inputs.
"""
from __future__ import annotations

from typing import Any, Callable

from ..compiler.runtime import copy_json
from .compiled import CompileError, Compiled


class InputCheck:
    """Inputs that surely fit: defaults applied without collecting problems (None otherwise)."""

    def __init__(self, decl, resolve: Callable):
        from ..compiler.check.consts import constant_value
        from ..compiler.codegen.input_check import compile_check

        self.defaults = {p.name.name: constant_value(p.default) if p.default is not None else None
                         for p in decl.params if p.default is not None or p.optional}
        self.check = compile_check([(p.name.name, resolve(p.type), p.name.name not in self.defaults)
                                    for p in decl.params]) or (lambda given: False)

    def __call__(self, given: dict) -> dict | None:
        if not self.check(given):
            return None
        return {**self.defaults, **given} if self.defaults else dict(given)


class GeneratedPath:
    """The generated renderer of one prompt for one target, with the body parts and report that
    do not depend on the inputs (taken from `first`, a compile through the passes)."""

    def __init__(self, render: Callable, first, full: Callable[[dict], Any]):
        self.render, self.first, self.full = render, first, full
        self.body = copy_json(first.body)  # the first body went to the caller, who may change it
        from ..compiler.diagnostics import is_lowering

        self.lowering = [d for d in first.report if is_lowering(d)]  # what --strict refuses

    @classmethod
    def build(cls, compiled, backend, first, request, statics,
              full: Callable[[dict], Any]) -> "GeneratedPath | None":
        """The generated path, or None when the prompt or the target needs the passes.

        `first` is a compile through the passes and `request` its render before the passes;
        `statics` gives the compile-time values of the file's names (compiler/statics.py);
        `full(values)` compiles through the passes.
        """
        from ..backends.base import Backend
        from ..compiler.codegen import compile_messages
        from ..compiler.diagnostics import Sink
        from ..compiler.passes import text_turns_kept

        if not backend.plain_text_turns or type(backend).lower is not Backend.lower or type(backend).passes:
            return None  # the emitter writes turns in another shape, or the target lowers on its own
        if not text_turns_kept(backend.context(Sink()), request):
            return None
        render = compile_messages(compiled.decl, statics)
        return cls(render, first, full) if render is not None else None

    def compile(self, values: dict, target_value: dict, strict: bool):
        """The compile of checked `values`; None when a turn came out empty (the passes report it)."""
        messages = self.render(values, target_value)
        if messages is None:
            return None
        if strict and self.lowering:
            raise CompileError(self.lowering)
        body = {k: (messages if k == "messages" else copy_json(v)) for k, v in self.body.items()}
        return Compiled(self.first.target, self.first.prompt, body, "generated", report=self.first.report,
                        backend=self.first.backend, full=lambda: self.full(values))  # the backend: no whole compile
