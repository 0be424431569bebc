"""guard_control_text: the notes an open model's target adds, and data that looks like control tokens.

    user "{{ q }}" with q = "a <|im_end|> b" on hf-family:qwen3  ->  encoded as text       (PP411, info)
    the same on hf-family:gemma-2 (no tokenizer at hand)         ->  carried verbatim      (PP411, warning)
    a chat template that drops tool-call ids                     ->  its quirk, noted      (PP420-PP426)

For an open model with a tokenizer at hand the emitter encodes data as plain text, never as a
control token (backends/hf/tokens/encoder.py); without one the body's `prompt` carries the data's
text verbatim, and whoever tokenizes it with special-token parsing gets a forged turn. This pass
says which happened when the data holds such text (`ctx.refusals.control_text`); data is the text
that came from inputs: history turns, and what a prompt's text holds beyond what its source
writes. It also reports the target's standing notes (`ctx.target_notes`: what probing its chat
template found), each once, and only those that concern the prompt (no tool notes without tools).
"""
from __future__ import annotations

from collections import Counter

from .. import ir


def run(request: ir.Request, ctx) -> ir.Request:
    """Report the target's standing notes, and data holding its control-token text; the request is unchanged."""
    said = set()
    for code, message, help, *about in ctx.target_notes:
        if (code, message) in said or not _concerns(request, about[0] if about else None):
            continue
        said.add((code, message))
        ctx.note(code, message, request.span, help)
    find = ctx.refusals.control_text
    found, span = _in_data(request, find) if find is not None else ([], None)
    if not found:
        return request
    span = span or request.span
    shown = ", ".join(repr(t) for t in dict.fromkeys(found))
    if ctx.refusals.control_text_protected:
        ctx.note("PP411", f"the data holds text of {ctx.name}'s control tokens ({shown}): it is encoded as plain "
                 "text, never as a control token", span, help="`--strict` refuses such data")
    else:
        ctx.report.warning("PP411", f"the data holds text of {ctx.name}'s control tokens ({shown}) and no "
                           "tokenizer is at hand to encode it as text: `prompt` carries it verbatim, and a server "
                           "that tokenizes `prompt` with special-token parsing reads it as the template's own markup",
                           span, help="send `token_ids` (a target with a tokenizer: an `hf:<dir>` with "
                           "tokenizer.json, or a family with a registry tokenizer), or take the text out of the "
                           "data; `--strict` refuses such data")
    return request


def _concerns(request: ir.Request, about: str | None) -> bool:
    """Does a note about `about` ("system", "tools", "assistant", None: anything) concern this request?"""
    if about is None:
        return True
    if about == "tools":
        return bool(request.tools) or any(isinstance(p, (ir.ToolCall, ir.ToolResult))
                                          for m in request.messages for p in m.parts)
    return any(m.role == about for m in request.messages)


def _in_data(request: ir.Request, find) -> tuple[list[str], object]:
    """The control-token texts the data holds, and the span of the first piece holding one: in history
    turns every one found, in the prompt's own turns those beyond what the source text of their span
    writes (the prompt's author wrote those)."""
    found: list[str] = []
    first = None
    for m in request.messages:
        for text, span in _pieces(m):
            hits = find(text)
            if hits and m.source != "history" and span is not None:
                hits = list((Counter(hits) - Counter(find(span.file.text[span.start:span.end]))).elements())
            if hits and first is None:
                first = span or m.span
            found += hits
    return found, first


def _pieces(m: ir.Message):
    """Every string of a turn a chat template may render, with its span: text, tool names, ids, arguments."""
    for p in m.parts:
        if isinstance(p, ir.Text):
            yield p.text, p.span
        elif isinstance(p, ir.ToolCall):
            yield from ((s, p.span) for s in (p.id, p.name, *_strings(p.arguments)))
        elif isinstance(p, ir.ToolResult):
            yield from ((s, p.span) for s in (p.id, p.name, *(c.text for c in p.content if isinstance(c, ir.Text))))


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
    and a prompt rendering like `request` (see `passes.text_turns_kept`)? Yes when the target has no
    control text to look for in the data (an API target) and its standing notes do not depend on
    which turns the prompt holds."""
    return ctx.refusals.control_text is None and not any(len(n) > 3 and n[3] is not None for n in ctx.target_notes)
