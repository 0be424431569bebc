"""place_cache_breakpoints: keep the `cache` marks the target can use.

    caps.cache == "none" / "automatic":  every mark dropped, with a note        (PP407)
    caps.max_cache_breakpoints == 4:     5 marks -> the last 4 are kept        (PP407)

The last marks are kept because each covers the whole prefix before it.
"""
from __future__ import annotations

import attrs


def run(request, ctx):
    """The request with the cache marks the target can use: none, or the last ones up to its limit."""
    marked = [i for i, m in enumerate(request.messages) if m.cache is not None]
    count = len(marked) + (request.tools_cache is not None)
    if not count:
        return request
    mode, limit = ctx.caps.cache, ctx.caps.max_cache_breakpoints
    if mode in ("none", "automatic"):
        why = "it caches long prefixes by itself" if mode == "automatic" else "it has no prompt caching"
        for i in marked:
            ctx.note("PP407", f"cache breakpoint dropped: {ctx.name} needs none, {why}",
                     request.messages[i].span or request.span)
        if request.tools_cache is not None:
            ctx.note("PP407", f"cache breakpoint after the tool definitions dropped: {ctx.name} needs none, "
                     f"{why}", request.span)
        messages = tuple(attrs.evolve(m, cache=None) if m.cache else m for m in request.messages)
        return attrs.evolve(request, messages=messages, tools_cache=None)
    if count <= limit:
        return request
    drop = set(marked[: count - limit])
    messages = []
    for i, m in enumerate(request.messages):
        if i in drop:
            ctx.note("PP407", f"cache breakpoint dropped: {ctx.name} takes at most {limit}; "
                     f"the later ones cover this prefix", m.span or request.span)
            m = attrs.evolve(m, cache=None)
        messages.append(m)
    return attrs.evolve(request, messages=tuple(messages))


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when without `cache` statements nothing moves."""
    return not any(m.cache for m in request.messages) and request.tools_cache is None
