"""map_settings: keep the settings a target has, in its range.

    top_k: 40        on openai-chat  ->  dropped                       (PP403)
    temperature: 1.5 on anthropic    ->  1.0 (its maximum)             (PP404)
    stop: 6 strings  on openai-chat  ->  the first 4                   (PP404)
    (no max_tokens)  on anthropic    ->  max_tokens: 1024, required    (PP404)
    body: { logprobs: true }         ->  added to the body as given    (PP415)
    body: { top_logprob: 3 }         ->  error: no such field          (PP304)

The emitter writes the kept settings under the provider's own names
(`caps.settings`: `max_tokens` -> `max_completion_tokens`, `seed` -> `random_seed`...).
The `body` setting holds request-body fields of the provider's own, added as given
(`Backend.request_body`) once `ctx.refusals.body` takes them: a field the request schema
lacks, a value of the wrong shape, a field polyprompt writes itself are PP304 errors.
"""
from __future__ import annotations

import attrs

import functools
import re
from typing import Any, Callable, Mapping

from .. import ir
from ..diagnostics import Sink
from ..targets import BodyFields


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with the settings the target has, kept in its range, and the limits it requires."""
    caps = ctx.caps
    settings: dict[str, ir.Setting] = {}
    for name, setting in request.settings.items():
        if name == "body" and isinstance(setting.value, dict):
            span = setting.span or request.span
            rules, spans = ctx.refusals.body, (lambda f: field_span(span, f))
            taken = (no_body if rules is None else functools.partial(body_fields, rules=rules))(
                setting.value, target=ctx.name, spans=spans, report=ctx.report)
            if taken:
                settings[name] = setting if taken == setting.value else attrs.evolve(setting, value=taken)
            continue
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


def body_fields(fields: Mapping[str, Any], rules: BodyFields, target: str, spans: Callable, report: Sink) -> dict:
    """The body fields `target` takes by its `rules`, each noted in `report` (PP415); the others are
    errors (PP304). `spans(field)` is a field's source span."""
    taken = {}
    for field, value in fields.items():
        refused = rules.refuse(target, field, value)
        if refused is not None:
            report.error("PP304", refused[0], spans(field), help=refused[1])
        else:
            report.info("PP415", rules.note(target, field), spans(field))
            taken[field] = value
    return taken


def no_body(fields: Mapping[str, Any], target: str, spans: Callable, report: Sink) -> dict:
    """No field for a target without a request body of its own (a chat template's prompt): each is dropped (PP403)."""
    for field in fields:
        report.info("PP403", f"body field `{field}` dropped: {target} has no request body", spans(field))
    return {}


def field_span(span, field: str):
    """The span of `field: value`'s name inside a `body: { ... }` setting (the whole setting when not found)."""
    text = span.text if span is not None else ""
    found = re.search(rf"(?<![\w\"']){re.escape(field)}(?![\w])|[\"']{re.escape(field)}[\"']", text)
    return attrs.evolve(span, start=span.start + found.start(), end=span.start + found.end()) if found else span


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
