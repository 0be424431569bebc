"""map_settings: keep the settings a target has, in its range.

    top_k: 40        on openai-chat  ->  dropped                       (PP403)
    temperature: 1.5 on anthropic    ->  1.0 (its maximum)             (PP404)
    stop: 6 strings  on openai-chat  ->  the first 4                   (PP404)
    (no max_tokens)  on anthropic    ->  max_tokens: 1024, required    (PP404)

The emitter writes the kept settings under the provider's own names
(`caps.settings`: `max_tokens` -> `max_completion_tokens`, `seed` -> `random_seed`...).
"""
from __future__ import annotations

import attrs

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with the settings the target has, kept in its range, and the limits it requires."""
    caps = ctx.caps
    settings: dict[str, ir.Setting] = {}
    for name, setting in request.settings.items():
        if name not in caps.settings:
            ctx.note("PP403", f"`{name}` dropped: {ctx.name} has no such setting", setting.span or request.span)
            continue
        settings[name] = _adjust(name, setting, caps, ctx, request)
    if caps.default_max_tokens is not None and "max_tokens" not in settings:
        ctx.note("PP404", f"`max_tokens` set to {caps.default_max_tokens}: {ctx.name} requires a limit",
                 request.span, help="set `max_tokens` in the prompt's `model { }` settings")
        settings["max_tokens"] = ir.Setting(value=caps.default_max_tokens, span=request.span)
    if settings == request.settings:
        return request  # evolve is not free, and most requests need no change here
    return attrs.evolve(request, settings=settings)


def _adjust(name: str, setting: ir.Setting, caps, ctx, request) -> ir.Setting:
    value = setting.value
    if name == "stop":
        stops = [value] if isinstance(value, str) else list(value)
        if caps.max_stop is not None and len(stops) > caps.max_stop:
            ctx.note("PP404", f"`stop` cut to its first {caps.max_stop} strings: {ctx.name} takes no more",
                     setting.span or request.span)
            stops = stops[: caps.max_stop]
        return attrs.evolve(setting, value=stops)
    if name == "temperature" and value > caps.temperature_max:
        ctx.note("PP404", f"`temperature` {value} lowered to {caps.temperature_max}, the maximum of "
                 f"{ctx.name}", setting.span or request.span)
        return attrs.evolve(setting, value=caps.temperature_max)
    return setting


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when settings come from the `model` statement: the same for every render."""
    return True
