"""The lowering passes, run in this order for every target.

Each pass is a module with `run(request, ctx) -> request`: a pure rewrite of
the IR driven by the target's capability table (`ctx.caps`) and its refusals
(`ctx.refusals`). A pass that changes what the model will see adds a PP4xx
note to `ctx.report`, with the span of the source that caused it: the lowering
report. What the target cannot express at all is `ctx.unsupported` (a PP3xx
error). These passes are the only source of the report: emitters write bodies.

A pass sees a `PassContext` (the target's name, caps, refusals, schema dialect,
default model), never a backend object. A backend may add passes of its own
(`Backend.passes`, in its module), run after these with the same context.
"""
from __future__ import annotations

import sys
from typing import Callable

import attrs

from .. import ir
from ..diagnostics import Sink
from ..targets import AS_IS, Caps, Refusals, SchemaDialect, Unsupported
from . import (
    check_media,
    choose_model,
    guard_control_text,
    lower_output_schema,
    map_settings,
    normalize_whitespace,
    place_cache_breakpoints,
    place_system,
    prune_budget,
    repair_alternation,
    shape_tool_turns,
    strict_tools,
)


@attrs.define(kw_only=True)
class PassContext:
    """What a pass knows of the target: data only (no backend object), and the report."""

    #: the target's name as the report calls it (a declared target's own name)
    name: str
    caps: Caps
    report: Sink
    refusals: Refusals = attrs.field(factory=Refusals)
    dialect: SchemaDialect = AS_IS
    #: the built-in target it is (`openai-compatible` for `target local "openai-compatible"`)
    kind: str = ""
    #: the model written when the prompt names none, or one made for another provider
    default_model: str | None = None
    #: notes (code, message, help) the target adds to every report: an open model's template quirks
    target_notes: tuple = ()
    #: how the output type is written into the prompt when the target has no structured output
    #: (the `output_instructions` option: "compact", "schema" or "none")
    output_instructions: str = "compact"

    def note(self, code: str, message: str, span, help: str | None = None) -> None:
        """A lowering note; spans fall back to the whole prompt."""
        self.report.info(code, message, span, help)

    def unsupported(self, code: str, message: str, span, help: str | None = None) -> None:
        """What the target cannot express (a PP3xx error): the request is not emitted. The same
        `Unsupported` an emitter raises for what only it can find out."""
        Unsupported(code, message, span, help).report(self.report)


Pass = Callable[[ir.Request, PassContext], ir.Request]

#: Order matters: pruning before alternation repair (a drop can leave two user
#: turns side by side), tool shaping before alternation (results become user turns),
#: schema instructions before system placement.
PASSES: tuple[Pass, ...] = (
    check_media.run,
    normalize_whitespace.run,
    prune_budget.run,
    lower_output_schema.run,  # may add system text: before it is placed
    place_system.run,
    shape_tool_turns.run,
    strict_tools.run,
    repair_alternation.run,
    map_settings.run,
    place_cache_breakpoints.run,
    choose_model.run,
    guard_control_text.run,
)


def text_turns_kept(ctx: PassContext, request: ir.Request) -> bool:
    """Do all the passes leave the messages of every render of a prompt as they are, when those are
    plain text turns (system, user, assistant; trimmed, none empty) and everything else is as in
    `request`, a first render of the prompt? Then a renderer may write such turns straight into
    the body, and the rest of the body and the report are those of `request`'s compile. Each pass
    answers for itself (`keeps_text_turns` in its module): a new pass must say.
    """
    return all(sys.modules[p.__module__].keeps_text_turns(ctx, request) for p in PASSES)


def run_passes(request: ir.Request, ctx: PassContext, passes=PASSES) -> ir.Request:
    """Lower `request` through the passes in order (all of them by default; the pass fixtures run
    the first few); each reports what it changed into `ctx.report`."""
    for p in passes:
        request = p(request, ctx)
    return request
