"""check_media: every image, audio clip and file must be one the target takes.

    audio(clip) on anthropic             ->  error PP302 (no audio input)
    image("https://...") on ollama       ->  error PP302 (inline data only)
    an image in a tool result on openai  ->  error PP302 (text results only)
    an inline PDF on mistral             ->  error PP302 (`ctx.refusals.url_only`)
    a TIFF image on bedrock-converse     ->  error PP302 (`ctx.refusals.media_types`)
    OGG audio on openai-chat             ->  error PP302 (`input_audio.format` is wav or mp3)

A capability check, not a rewrite: dropping media silently would change
what the model sees.
"""
from __future__ import annotations

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    """Report (PP302) each media part the target cannot take; the request is unchanged."""
    caps = ctx.caps
    for m in request.messages:
        for result in (p for p in m.parts if isinstance(p, ir.ToolResult)):
            if any(isinstance(c, ir.Media) for c in result.content) and not caps.tool_result_media:
                ctx.unsupported("PP302", f"{ctx.name} takes only text in tool results",
                                result.span or m.span or request.span,
                                help="describe the media in text, or send it in a user turn")
        for part, in_result in _media(m.parts):
            span = part.span or m.span or request.span
            if part.kind not in caps.media:
                why = ctx.refusals.media.get(part.kind)
                ctx.unsupported("PP302", f"{ctx.name} cannot take {part.kind} input" + (f": {why}" if why else ""),
                                span, help=f"it takes: {', '.join(sorted(caps.media)) or 'text only'}; "
                                           "move this part into a `target` block for other targets")
            elif part.url is not None and part.kind not in caps.media_urls:
                ctx.unsupported("PP302", f"{ctx.name} needs {part.kind} data inline, not a URL", span,
                                help="pass a data: URI, or a local file path in the inputs file")
            elif not (in_result and not caps.tool_result_media):  # such results are refused whole
                _refused_form(part, span, ctx)
    return request


def _refused_form(part: ir.Media, span, ctx) -> None:
    """A kind the target takes, in a form it refuses: inline data it takes only by URL, or a
    media type outside its closed list (`ctx.refusals`)."""
    refusals = ctx.refusals
    if part.url is None and part.kind in refusals.url_only:
        noun, help = refusals.url_only[part.kind]
        ctx.unsupported("PP302", f"{ctx.name} needs {noun} by URL, not inline data", span, help=help)
    types = refusals.media_types.get(part.kind)
    if types is not None and part.url is None and (part.media_type or "").lower() not in types.accepted:
        accepted = "it takes: " + ", ".join(sorted(types.accepted))
        ctx.unsupported("PP302", f"{ctx.name} cannot take `{part.media_type}` {types.noun}", span,
                        help=f"{accepted}; {types.help}" if types.help else accepted)


def _media(parts):
    """Every media part, and whether it is inside a tool result."""
    for p in parts:
        if isinstance(p, ir.Media):
            yield p, False
        elif isinstance(p, ir.ToolResult):
            yield from ((c, True) for c in p.content if isinstance(c, ir.Media))


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when text turns hold no media."""
    return True
