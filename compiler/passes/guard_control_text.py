"""guard_control_text: the notes an open model's target adds, and data that looks like control tokens.

    user "{{ q }}" with q = "a <|im_end|> b" on hf-family:qwen3  ->  encoded as text     (PP411)
    a chat template that drops tool-call ids                    ->  its quirk, noted    (PP400)

For an open model the emitter encodes data as plain text, never as a control token
(backends/hf/tokens/encoder.py); this pass says so when the data holds such text
(`ctx.refusals.control_text`), and reports the target's standing notes
(`ctx.target_notes`: what probing its chat template found).
"""
from __future__ import annotations

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    """Report the target's standing notes, and data holding its control-token text; the request is unchanged."""
    for code, message, help in ctx.target_notes:
        ctx.note(code, message, request.span, help)
    holds = ctx.refusals.control_text
    if holds is not None and any(holds(text) for m in request.messages for text in _texts(m)):
        ctx.note("PP411", f"the data holds text of {ctx.name}'s control tokens: it is encoded as plain text, "
                 "never as a control token", request.span, help="`--strict` refuses such data")
    return request


def _texts(m: ir.Message):
    """Every string of a turn a chat template may render: its text, tool names, ids and arguments."""
    yield m.text
    for p in m.parts:
        if isinstance(p, ir.ToolCall):
            yield from (p.id, p.name)
            yield from _strings(p.arguments)
        elif isinstance(p, ir.ToolResult):
            yield from (p.id, p.name, "".join(c.text for c in p.content if isinstance(c, ir.Text)))


def _strings(value):
    """The strings inside a JSON value, dict keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx`
    and a prompt rendering like `request` (see `passes.text_turns_kept`)? Yes when the target has no control text to look for in the data (an API target): its standing notes are the same for every render."""
    return ctx.refusals.control_text is None
