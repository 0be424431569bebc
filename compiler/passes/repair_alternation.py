"""repair_alternation: make user and assistant turns alternate, starting with user.

    user "a"  user "b"          ->  user "a\\n\\nb"                  (PP401)
    assistant "hi"  user "x"    ->  user "(continue)" assistant ...  (PP402)
    tool(result)  user "x"      ->  tool(result) assistant "(continue)" user "x"  (PP402,
                                    caps.answer_after_tool_results: Mistral)

Only for targets that demand it (`caps.alternation`, `caps.first_user`).
Leading system turns are left alone. Merging keeps parts in order; two text
parts meet with a blank line between them.
"""
from __future__ import annotations

import attrs

from .. import ir

PLACEHOLDER = "(continue)"


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with user and assistant turns alternating and a user turn first, where the target demands it."""
    if ctx.caps.answer_after_tool_results:
        request = _answer_tool_results(request, ctx)
    if not (ctx.caps.alternation or ctx.caps.first_user):
        return request
    system = [m for m in request.messages if m.role == "system"]
    turns = [m for m in request.messages if m.role != "system"]
    if ctx.caps.alternation:
        turns = _merge_runs(turns, ctx, request)
    if ctx.caps.first_user and turns and turns[0].role != "user":
        ctx.note("PP402", f"a placeholder user turn was inserted: {ctx.name} needs the conversation "
                 f"to start with a user turn", turns[0].span or request.span)
        turns.insert(0, ir.Message(role="user", parts=(ir.Text(text=PLACEHOLDER),), span=turns[0].span))
    return attrs.evolve(request, messages=tuple(system + turns))


def _merge_runs(turns: list[ir.Message], ctx, request) -> list[ir.Message]:
    """Each run of same-role turns as one turn (linear in the number of turns and parts)."""
    out: list[ir.Message] = []
    i = 0
    while i < len(turns):
        j = i + 1
        while j < len(turns) and turns[j].role == turns[i].role:
            j += 1
        out.append(turns[i] if j == i + 1 else _merge(turns[i:j], ctx, request))
        i = j
    return out


def _merge(run: list[ir.Message], ctx, request) -> ir.Message:
    """One turn of a run: its parts in order, a text part that meets a text part across two turns
    joined with a blank line; a note for each turn merged, unless what was merged so far and the
    turn are both only tool calls or both only tool results (parallel calls and their results)."""
    first = run[0]
    parts: list = list(first.parts)
    texts: list[str] = [parts[-1].text] if parts and isinstance(parts[-1], ir.Text) else []
    filled = bool(parts)
    results = all(isinstance(p, ir.ToolResult) for p in parts)
    calls = all(isinstance(p, ir.ToolCall) for p in parts)
    cache, priority = first.cache, first.priority
    for m in run[1:]:
        if not (filled and results and _only(m, ir.ToolResult)) and not (filled and calls and _only(m, ir.ToolCall)):
            ctx.note("PP401", f"two {m.role} turns in a row merged into one: {ctx.name} needs "
                     f"user and assistant turns to alternate", m.span or request.span)
        filled = filled or bool(m.parts)
        results = results and all(isinstance(p, ir.ToolResult) for p in m.parts)
        calls = calls and all(isinstance(p, ir.ToolCall) for p in m.parts)
        rest = list(m.parts)
        head = rest[0] if rest else None
        if texts and isinstance(head, ir.Text):
            texts.append(head.text)  # joined once, at the end: no quadratic string building
            rest.pop(0)
        if rest:
            _close(parts, texts)
            parts += rest
            texts = [rest[-1].text] if isinstance(rest[-1], ir.Text) else []
        cache, priority = m.cache or cache, _min(priority, m.priority)
    _close(parts, texts)
    return attrs.evolve(first, parts=tuple(parts), cache=cache, priority=priority)


def _close(parts: list, texts: list[str]) -> None:
    """Write the text pieces gathered for the last part into it (one blank line between them)."""
    if len(texts) > 1:
        parts[-1] = attrs.evolve(parts[-1], text="\n\n".join(texts))
    texts.clear()


def _only(m: ir.Message, kind) -> bool:
    return bool(m.parts) and all(isinstance(p, kind) for p in m.parts)


def _min(a, b):
    return b if a is None else a if b is None else min(a, b)


def _answer_tool_results(request: ir.Request, ctx) -> ir.Request:
    """A placeholder assistant turn between tool results and a following user or system turn, for the
    targets that take only an assistant turn (or more results) after a tool result: Mistral's API and
    its chat templates, whose alternation check skips tool calls and results (PP402)."""
    messages: list[ir.Message] = []
    for m in request.messages:
        if messages and messages[-1].role == "tool" and m.role not in ("assistant", "tool"):
            ctx.note("PP402", f"an assistant turn was inserted after the tool results: {ctx.name} "
                     f"takes only an assistant turn or more results after a tool result",
                     m.span or request.span, help="write the assistant's reply to the results before the next turn")
            messages.append(ir.Message(role="assistant", parts=(ir.Text(text=PLACEHOLDER),), span=m.span))
        messages.append(m)
    return attrs.evolve(request, messages=tuple(messages))


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when turns that need not alternate nor start with a user turn stay as they are."""
    return not (ctx.caps.alternation or ctx.caps.first_user)
