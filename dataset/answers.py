"""The text of an answer, as the target's model is to write it.

A value of the output type becomes the exact text the reply reader turns back into that value
(`compiler.replies.parse_output`): plain text for `-> str`, JSON for structured outputs, wrapped
as `{"value": ...}` where the target's schema dialect needs an object at the root. A test proves
the round trip for every format and output type: `parse_output(answer_text(v)) == v`.
"""
from __future__ import annotations

import json
from typing import Any


def answer_text(value: Any, output: Any) -> str:
    """The reply text that reads back as `value` for a compiled request's `output` (an IR Output)."""
    if output is None or output.is_text:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if output.wrapped is not None:
        value = {output.wrapped: value}
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
