"""prune_budget: drop low-priority turns until the prompt fits its `budget`.

    budget 1000
    priority 1 { user "<long background>" }   ->  dropped first (PP408)
    priority 2 { ... }                        ->  dropped next, if still over

Only turns inside `priority N { }` can be dropped, lowest N first and, within
one level, the earliest first. Tokens are estimated at four characters each
for API targets (their tokenizers are not available offline); model targets
count with their own tokenizer.
"""
from __future__ import annotations

import attrs

from .. import ir

CHARS_PER_TOKEN = 4


def estimate_tokens(message: ir.Message) -> int:
    """A message's estimated token count: four characters a token, plus the role and separators."""
    size = 4  # role and separators
    for p in message.parts:
        if isinstance(p, ir.Text):
            size += (len(p.text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
        elif isinstance(p, ir.Media):
            size += 85  # a low-detail image tile, the smallest unit providers bill
        else:
            size += len(str(p)) // CHARS_PER_TOKEN
    return size


def run(request: ir.Request, ctx) -> ir.Request:
    """The request without its lowest-priority turns, dropped until it fits its budget."""
    if request.budget is None:
        return request
    messages = list(request.messages)
    total = sum(estimate_tokens(m) for m in messages)
    droppable = sorted((m.priority, i) for i, m in enumerate(messages) if m.priority is not None)
    dropped: set[int] = set()
    for _priority, i in droppable:
        if total <= request.budget:
            break
        total -= estimate_tokens(messages[i])
        dropped.add(i)
        ctx.note("PP408", f"{messages[i].role} turn of priority {messages[i].priority} dropped: the prompt "
                 f"was over its budget of {request.budget} tokens", messages[i].span or request.span)
    return attrs.evolve(request, messages=tuple(m for i, m in enumerate(messages) if i not in dropped))


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when without a budget nothing is dropped."""
    return request.budget is None
