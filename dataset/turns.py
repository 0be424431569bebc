"""An open-model target's lowered turns for many rows of one prompt, lowered once per prompt.

A tokenized row is rendered from the conversation the target's template reads: the prompt's
turns lowered through the passes (`PromptFile.lower`), written as message dicts. For a prompt
whose statements are plain text turns, what the passes do to the text of those turns is the same
for every row, so it is decided once, on the first row, as the API targets' generated path does
(session/generated.py): each pass says whether it keeps such turns (`keeps_text_turns`), except

- `guard_control_text`, which never changes a request (its PP411 note depends on the row's data:
  a dataset line does not carry the report);
- `place_cache_breakpoints`, which changes only the turns' `cache` marks (no message dict holds them);
- `lower_output_schema`, whose one change for a target without structured output is redone
  here: the output instructions added to the first system turn, or as a new one, unless a turn
  already holds them;
- `place_system`, redone here: for a template without a system role the system texts joined by a
  blank line and put before the first user turn's text (or as a user turn of their own); for one
  that takes system text only first, a later system turn made a user turn; for one that reads one
  system message, the leading system turns joined;
- `repair_alternation`, redone here for text turns: a run of same-role turns joined by blank
  lines, a placeholder user turn first where the target needs one.

The rows are then rendered by the prompt's generated renderer (`PromptFile.text_turns`) straight
into message dicts. The first row is lowered both ways and must agree, else every row takes the
passes; tests/test_dataset_speed.py checks random rows both ways.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

#: what `LoweredTurns.build` says when the row it was given cannot tell (a turn left empty)
LATER = "later"
#: passes whose changes to plain text turns are handled here (see the module docstring)
_HANDLED = frozenset({"guard_control_text", "place_cache_breakpoints", "lower_output_schema", "place_system",
                      "repair_alternation"})
#: what repair_alternation writes as a user turn where a target needs one first
PLACEHOLDER = "(continue)"


class TurnsRow:
    """What the tokenized format reads of one row: the message dicts, the backend, the target's
    lowered output and tools (the same for every row); `request`, the row lowered through the passes."""

    __slots__ = ("turns", "backend", "output", "tools", "_lower", "_request")

    def __init__(self, turns: list[dict], backend: Any, output: Any, tools: Any, lower: Callable[[], Any]):
        self.turns, self.backend, self.output, self.tools = turns, backend, output, tools
        self._lower, self._request = lower, None

    @property
    def request(self) -> Any:
        """The row's lowered IR request, through the passes (made on first use)."""
        if self._request is None:
            self._request = self._lower()
        return self._request


class LoweredTurns:
    """The lowered turns of one prompt on one open-model target, row by row."""

    def __init__(self, pf: Any, target: str, prompt: str, render: Callable[[dict], Any], first: Any,
                 instructions: str | None):
        self.pf, self.target, self.prompt, self.render = pf, target, prompt, render
        self.backend = pf.backend(target)
        self.output, self.tools = first.output, first.tools
        self.instructions = instructions

    @classmethod
    def build(cls, pf: Any, target: str, prompt: str, values: dict) -> "LoweredTurns | str | None":
        """The lowered turns of `prompt` on `target`, or None when the passes must lower its rows
        (`LATER` when this row cannot tell). `values`: a row's checked inputs (lowered both ways:
        the two must agree)."""
        from ..backends.base import Backend
        from ..compiler.diagnostics import Sink
        from ..compiler.passes import PASSES

        backend = pf.backend(target)
        if not hasattr(backend, "write_messages") or type(backend).passes or type(backend).lower is not Backend.lower:
            return None
        made = pf.text_turns(target, prompt)
        if made is None:
            return None
        render, before = made
        request = before(values)
        ctx = backend.context(Sink())
        for run in PASSES:
            module = sys.modules[run.__module__]
            name = module.__name__.rsplit(".", 1)[-1]
            if name not in _HANDLED and not module.keeps_text_turns(ctx, request):
                return LATER if name == "normalize_whitespace" else None  # an empty turn: this row's own
        if ctx.caps.system not in ("message", "merge", "top_level") or ctx.caps.answer_after_tool_results:
            return None  # a placement not redone here, or turns added after tool results
        instructions = None
        if request.output is not None and ctx.caps.structured_output is None:
            instructions = (request.output.instructions or {}).get(ctx.output_instructions, "") or None
        lowered, _ = pf.lower(target, values, prompt=prompt)
        found = cls(pf, target, prompt, render, lowered, instructions)
        found.caps = ctx.caps
        turns = found.turns(values)
        if turns is None:
            return LATER  # a turn of this row is empty: decide on another row
        if turns != backend.write_messages(lowered.messages):
            return None  # never expected: the passes did more than this module knows
        return found

    def turns(self, values: dict) -> list[dict] | None:
        """The row's message dicts as the target writes its lowered turns, or None when the
        passes must say (a turn left empty: a note, or an error)."""
        turns = self.render(values)
        if turns is None:
            return None
        text = self.instructions
        if text is not None:
            for turn in turns:  # a loop, not any(generator): this runs once a row
                if text in turn["content"]:
                    break
            else:
                if turns and turns[0]["role"] == "system":
                    turns[0]["content"] += "\n\n" + text
                else:
                    turns.insert(0, {"role": "system", "content": text})
        caps = self.caps
        if caps.system == "merge":
            turns = _merge_system(turns)
        else:
            if caps.system == "top_level":
                turns = _late_system_to_user(turns)
            if caps.one_system_turn:
                turns = _one_leading_system(turns)
        if caps.alternation or caps.first_user:
            turns = _alternating(turns, caps.alternation, caps.first_user)
        return turns

    caps: Any = None  # the target's capabilities (set by `build`)

    def row(self, values: dict) -> TurnsRow | None:
        """The view of one row the format reads, or None (lower it through the passes)."""
        turns = self.turns(values)
        if turns is None:
            return None
        return TurnsRow(turns, self.backend, self.output, self.tools,
                        lambda: self.pf.lower(self.target, values, prompt=self.prompt)[0])


def _merge_system(turns: list[dict]) -> list[dict]:
    """place_system for a template without a system role: the system texts joined by a blank line,
    before the first user turn's text (a blank line between), or a user turn of their own."""
    systems = [t["content"] for t in turns if t["role"] == "system"]
    if not systems:
        return turns
    rest = [t for t in turns if t["role"] != "system"]
    text = "\n\n".join(systems)
    if rest and rest[0]["role"] == "user":
        rest[0] = {**rest[0], "content": text + "\n\n" + rest[0]["content"]}
    else:
        rest.insert(0, {"role": "user", "content": text})
    return rest


def _late_system_to_user(turns: list[dict]) -> list[dict]:
    """place_system for a template that takes system text only first: a system turn after the
    conversation started is a user turn."""
    out, leading = [], True
    for turn in turns:
        if turn["role"] != "system":
            leading = False
        elif not leading:
            turn = {**turn, "role": "user"}
        out.append(turn)
    return out


def _one_leading_system(turns: list[dict]) -> list[dict]:
    """place_system for a template that reads one system message: the leading system turns joined."""
    count = next((i for i, t in enumerate(turns) if t["role"] != "system"), len(turns))
    if count < 2:
        return turns
    return [{**turns[0], "content": "\n\n".join(t["content"] for t in turns[:count])}, *turns[count:]]


def _alternating(turns: list[dict], merge: bool, first_user: bool) -> list[dict]:
    """repair_alternation for text turns: the system turns first, then the others with each run of
    one role joined by blank lines (`merge`), a placeholder user turn first (`first_user`)."""
    systems = [t for t in turns if t["role"] == "system"]
    others: list[dict] = []
    for turn in (t for t in turns if t["role"] != "system"):
        if merge and others and turn["role"] == others[-1]["role"]:
            others[-1] = {**others[-1], "content": others[-1]["content"] + "\n\n" + turn["content"]}
        else:
            others.append(turn)
    if first_user and others and others[0]["role"] != "user":
        others.insert(0, {"role": "user", "content": PLACEHOLDER})
    return systems + others
