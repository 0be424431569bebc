"""The text of an answer, as the target's model is to write it.

A value of the output type becomes the exact text the reply reader turns back into that value
(`compiler.replies.parse_output`): plain text for `-> str`, JSON for structured outputs, wrapped
as `{"value": ...}` where the target's schema dialect needs an object at the root, the bare word
of an enum where the target's instructions ask for one of the allowed words. A test proves
the round trip for every format and output type: `parse_output(answer_text(v)) == v`.
"""
from __future__ import annotations

import json
from typing import Any

from ..compiler.memo import by_identity


def answer_text(value: Any, output: Any, backend: Any = None) -> str:
    """The reply text that reads back as `value` for a compiled request's `output` (an IR Output),
    as the target's model is told to write it: a target without native structured output whose
    compact instructions list the allowed words is answered with the bare word."""
    if output is not None and not output.is_text and type(value) in _SCALARS:  # labels repeat: made once
        return _scalar_text(output, (backend, type(value), value))
    return _answer_text(value, output, backend)


def _answer_text(value: Any, output: Any, backend: Any) -> str:
    if output is None or output.is_text:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and backend is not None and _told(output, backend):
        return value
    if output.wrapped is not None:
        value = {output.wrapped: value}
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _told(output: Any, backend: Any) -> bool:
    """`_told_words`, once per output and backend (every row of a dataset asks the same)."""
    return _told_cached(output, backend)


def _told_words(output: Any, backend: Any) -> bool:
    """Whether the target's instructions ask for one of the allowed words (an enum, compact style,
    no native structured output)."""
    from ..compiler.schema import compact_form

    return (backend.caps.structured_output is None and backend.options.get("output_instructions", "compact")
            == "compact" and compact_form(output.type) == "words")


_told_cached = by_identity(_told_words)
#: answer types whose text depends on the value alone
_SCALARS = frozenset({str, int, float, bool})
_scalar_text = by_identity(lambda output, key: _answer_text(key[2], output, key[0]), limit=4096)
