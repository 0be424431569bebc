"""place_system: put system text where the target takes it.

    caps.system == "merge":      system "S"  user "U"   ->  user "S\\n\\nU"      (PP400)
    caps.system == "top_level":  a system turn after the first user turn becomes
                                 a user turn, since the field holds only the start (PP400)

"message", "developer" and leading system turns of "top_level" targets need
no change here: the emitter writes them natively.
"""
from __future__ import annotations

import attrs

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    mode = ctx.caps.system
    if mode == "merge":
        return _merge_into_first_user(request, ctx)
    if mode == "top_level":
        return _late_system_to_user(request, ctx)
    return request


def _merge_into_first_user(request: ir.Request, ctx) -> ir.Request:
    systems = [m for m in request.messages if m.role == "system"]
    if not systems:
        return request
    rest = [m for m in request.messages if m.role != "system"]
    text = "\n\n".join(m.text for m in systems)
    for m in systems:
        ctx.note("PP400", f"system turn merged into the first user turn: {ctx.backend.name} has no system role",
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
                     f"{ctx.backend.name} takes system text only before the first turn", m.span or request.span)
            m = attrs.evolve(m, role="user")
        out.append(m)
    return attrs.evolve(request, messages=tuple(out))
