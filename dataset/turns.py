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
  already holds them.

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
_HANDLED = frozenset({"guard_control_text", "place_cache_breakpoints", "lower_output_schema"})


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
        instructions = None
        if request.output is not None and ctx.caps.structured_output is None:
            instructions = (request.output.instructions or {}).get(ctx.output_instructions, "") or None
        lowered, _ = pf.lower(target, values, prompt=prompt)
        found = cls(pf, target, prompt, render, lowered, instructions)
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
        return turns

    def row(self, values: dict) -> TurnsRow | None:
        """The view of one row the format reads, or None (lower it through the passes)."""
        turns = self.turns(values)
        if turns is None:
            return None
        return TurnsRow(turns, self.backend, self.output, self.tools,
                        lambda: self.pf.lower(self.target, values, prompt=self.prompt)[0])
