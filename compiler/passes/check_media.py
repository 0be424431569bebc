"""check_media: every image, audio clip and file must be one the target takes.

    audio(clip) on anthropic             ->  error PP302 (no audio input)
    image("https://...") on ollama       ->  error PP302 (inline data only)
    an image in a tool result on openai  ->  error PP302 (text results only)

A capability check, not a rewrite: dropping media silently would change
what the model sees.
"""
from __future__ import annotations

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    caps = ctx.caps
    for m in request.messages:
        for result in (p for p in m.parts if isinstance(p, ir.ToolResult)):
            if any(isinstance(c, ir.Media) for c in result.content) and not caps.tool_result_media:
                ctx.report.error("PP302", f"{ctx.backend.name} takes only text in tool results",
                                 result.span or m.span or request.span,
                                 help="describe the media in text, or send it in a user turn")
        for part in _media(m.parts):
            if part.kind not in caps.media:
                why = _refusal(ctx.backend, part.kind)
                ctx.report.error("PP302", f"{ctx.backend.name} cannot take {part.kind} input"
                                 + (f": {why}" if why else ""),
                                 part.span or m.span or request.span,
                                 help=f"it takes: {', '.join(sorted(caps.media)) or 'text only'}; "
                                      "move this part into a `target` block for other targets")
            elif part.url is not None and part.kind not in caps.media_urls:
                ctx.report.error("PP302", f"{ctx.backend.name} needs {part.kind} data inline, not a URL",
                                 part.span or m.span or request.span,
                                 help="pass a data: URI, or a local file path in the inputs file")
    return request


def _refusal(backend, kind: str) -> str | None:
    """The backend's own reason, when it knows more than its capability table (a model's chat template)."""
    refusal = getattr(backend, "media_refusal", None)
    return refusal(kind) if refusal is not None else None


def _media(parts):
    for p in parts:
        if isinstance(p, ir.Media):
            yield p
        elif isinstance(p, ir.ToolResult):
            yield from (c for c in p.content if isinstance(c, ir.Media))


def keeps_text_turns(caps, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for `caps` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when text turns hold no media."""
    return True
