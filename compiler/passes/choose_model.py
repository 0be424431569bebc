"""choose_model: the model the body names.

    (no model)                      ->  the target's default model
    model "gpt-4o" on anthropic     ->  claude-sonnet-4-5 (its default)   (PP404)

A model made for another provider (`ctx.refusals.model` says which) is replaced by
the target's default; the emitter then writes `request.model` as it is.
"""
from __future__ import annotations

import attrs

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with the target's default model when it names none or one made for another provider."""
    model = request.model
    if model is None:
        return attrs.evolve(request, model=ctx.default_model)
    family = ctx.refusals.model(model)
    if family is None:
        return request
    ctx.note("PP404", f"model `{model}` is made for {family}: {ctx.name} uses `{ctx.default_model}`",
             request.model_span or request.span,
             help=f'name a model for it: `target "{ctx.name}" {{ model "..." }}` in the prompt, '
                  f'or a `target NAME "{ctx.kind}" {{ model "..." }}` declaration')
    return attrs.evolve(request, model=ctx.default_model)


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx`
    and a prompt rendering like `request` (see `passes.text_turns_kept`)? Yes when the model comes from the `model` statement: the same for every render."""
    return True
