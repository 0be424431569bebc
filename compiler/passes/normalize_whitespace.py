"""normalize_whitespace: trim the ends of each turn, drop turns left empty.

    user "\\n  Hello  \\n"      ->  user "Hello"
    user ""                    ->  (dropped, PP409)

Interior whitespace is the author's and stays. Providers reject empty turns,
and Anthropic rejects a final assistant turn that ends in whitespace.
"""
from __future__ import annotations

import attrs

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with each turn's ends trimmed and the turns left empty dropped."""
    messages = []
    for m in request.messages:
        parts = _trim(m.parts)
        if not parts:
            ctx.note("PP409", f"empty {m.role} turn dropped", m.span or request.span)
            continue
        messages.append(attrs.evolve(m, parts=parts) if parts is not m.parts else m)
    if len(messages) == len(request.messages) and all(a is b for a, b in zip(messages, request.messages)):
        return request  # turns already trimmed: evolve is not free
    return attrs.evolve(request, messages=tuple(messages))


def _trim(parts: tuple) -> tuple:
    out = list(parts)
    texts = [i for i, p in enumerate(out) if isinstance(p, ir.Text)]
    if texts:
        first, last = texts[0], texts[-1]
        if first == 0:
            out[first] = _with_text(out[first], out[first].text.lstrip())
        if last == len(out) - 1:
            out[last] = _with_text(out[last], out[last].text.rstrip())
    if all(p.text for p in out if isinstance(p, ir.Text)):
        return tuple(out) if any(a is not b for a, b in zip(out, parts)) else parts
    return tuple(p for p in out if not (isinstance(p, ir.Text) and not p.text))


def _with_text(part: ir.Text, text: str) -> ir.Text:
    """The part with this text; the same object when nothing changed (evolve is not free)."""
    return part if text == part.text else attrs.evolve(part, text=text)


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when no turn of `request` comes out
    empty (its PP409 note would hold for that render only): the generated renderer trims each turn
    itself, and gives up on a render where a turn is left empty."""
    return all(_trim(m.parts) for m in request.messages)
