"""place_system: put system text where the target takes it.

    caps.system == "merge":      system "S"  user "U"   ->  user "S\\n\\nU"      (PP400)
    caps.system == "top_level":  a system turn after the first user turn becomes
                                 a user turn, since the field holds only the start (PP400)
    caps.one_system_turn:        system "A"  system "B"  ->  system "A\\n\\nB"  (PP400; a
                                 chat template that reads only the first message)

"message", "developer" and leading system turns of "top_level" targets need
no change here: the emitter writes them natively.
"""
from __future__ import annotations

import attrs

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with its system text where the target takes it."""
    mode = ctx.caps.system
    if mode == "merge":
        return _merge_into_first_user(request, ctx)
    if mode == "top_level":
        request = _late_system_to_user(request, ctx)
    if ctx.caps.one_system_turn:
        request = _one_leading_system(request, ctx)
    return request


def _one_leading_system(request: ir.Request, ctx) -> ir.Request:
    """Join the leading system turns into one: a template whose system text is a header of the first
    turn reads only `messages[0]`, and counts a second system message as a turn."""
    messages = list(request.messages)
    count = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    if count < 2:
        return request
    first, rest = messages[0], messages[1:count]
    parts = list(first.parts)
    for m in rest:
        ctx.note("PP400", f"system turn joined to the one before: {ctx.name}'s template takes one system "
                 f"message", m.span or request.span)
        parts.append(ir.Text(text="\n\n", span=m.span))
        parts.extend(m.parts)
    joined = attrs.evolve(first, parts=tuple(parts))
    return attrs.evolve(request, messages=(joined, *messages[count:]))


def _merge_into_first_user(request: ir.Request, ctx) -> ir.Request:
    systems = [m for m in request.messages if m.role == "system"]
    if not systems:
        return request
    rest = [m for m in request.messages if m.role != "system"]
    text = "\n\n".join(m.text for m in systems)
    for m in systems:
        ctx.note("PP400", f"system turn merged into the first user turn: {ctx.name} has no system role",
                 m.span or request.span)
    if rest and rest[0].role == "user":
        first = rest[0]
        rest[0] = attrs.evolve(first, parts=(ir.Text(text=text + "\n\n", span=systems[0].span),) + first.parts)
    else:
        rest.insert(0, ir.Message(role="user", parts=(ir.Text(text=text, span=systems[0].span),),
                                  span=systems[0].span))
    return attrs.evolve(request, messages=tuple(rest))


def _late_system_to_user(request: ir.Request, ctx) -> ir.Request:
    out, leading = [], True
    for m in request.messages:
        if m.role != "system":
            leading = False
        elif not leading:
            ctx.note("PP400", f"system turn after the conversation started sent as a user turn: "
                     f"{ctx.name} takes system text only before the first turn", m.span or request.span)
            m = attrs.evolve(m, role="user")
        out.append(m)
    return attrs.evolve(request, messages=tuple(out))


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when system turns stay where they are."""
    return ctx.caps.system == "message" and not ctx.caps.one_system_turn
