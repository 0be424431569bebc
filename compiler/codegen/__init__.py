"""Prompts compiled to Python source, as Jinja compiles templates: one expression and text writer
(`source.py`, reading values through compiler/runtime.py) behind two renderers.

- `statements.py`: `compile_render`, every statement of the language to the IR's messages
  (compiler/render.py runs it): the one render semantics.
- `messages.py`: `compile_messages`, plain text turns straight to a target's message dicts, for
  the session's generated path when the passes would leave them as they are.
- `input_check.py`: `compile_check`, a quick yes/no check of a prompt's inputs (the full check,
  with every problem listed, is compiler/inputs.py).
"""
from __future__ import annotations

from typing import Any, Callable

from .messages import compile_messages
from .source import Exprs, Source, Unsupported
from .statements import compile_render

__all__ = ["Unsupported", "compile_expression", "compile_messages", "compile_render"]


def compile_expression(expr, statics, names) -> Callable[[dict], Any]:
    """An expression as a function of an environment holding `names` (a test's `expect` clause)."""
    from ..runtime import load_source

    source = Source()
    code = Exprs(source, statics, {name: f"env[{name!r}]" for name in names}).expr(expr)
    text = source.text("def render(env, v_target=None):", f"    return {code}")  # no target in an expect clause
    return load_source(text, source.globals, "expression")
