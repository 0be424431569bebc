"""The vocabulary of probing: marker strings, the messages of probe conversations, a renderer that
returns a template's refusal instead of raising it, and a comparison of renders that respects special
tokens. `facts` and `tools` both build their conversations from it.
"""
from __future__ import annotations

import os
from typing import Any

from ..chat_template.render import BudgetError, ChatTemplate, TemplateError

__all__ = ["A1", "BOS", "SYS", "SYS2", "THINK", "TRIM", "U1", "U2", "Renderer", "assistant", "common_prefix",
           "system_message", "text_block", "user", "user_blocks"]

# Markers: unique, alphanumeric (no template trims or escapes them), none a substring of another.
SYS, SYS2 = "ZQsysQZ", "ZQlatesysQZ"
U1, U2, A1 = "ZQuser1QZ", "ZQuser2QZ", "ZQasst1QZ"
THINK = "ZQreasonQZ"
BOS = "ZQbosQZ"
TRIM = {"user": "ZQtrimUQZ", "assistant": "ZQtrimAQZ", "system": "ZQtrimSQZ"}


def user(text: str) -> dict:
    """A user turn."""
    return {"role": "user", "content": text}


def assistant(text: str, **more: Any) -> dict:
    """An assistant turn (`more`: tool_calls, reasoning_content...)."""
    return {"role": "assistant", "content": text, **more}


def system_message(text: str) -> dict:
    """A system turn."""
    return {"role": "system", "content": text}


def user_blocks(*blocks: dict) -> dict:
    """A user turn of content blocks (transformers' multimodal shape)."""
    return {"role": "user", "content": list(blocks)}


def text_block(text: str) -> dict:
    """A text content block."""
    return {"type": "text", "text": text}


class Renderer:
    """Renders probe conversations; an error is caught and returned as its message."""

    def __init__(self, template: ChatTemplate):
        self.template = template

    def __call__(self, messages: list[dict], **kw: Any) -> tuple[str | None, str | None]:
        try:
            return self.template.render(messages, **kw), None
        except BudgetError:  # probing stops at the first render over budget
            raise
        except TemplateError as err:
            return None, str(err)
        except Exception as err:  # noqa: BLE001 - a template crashing on the input (TypeError...) refuses it too
            return None, f"{type(err).__name__}: {err}"


def common_prefix(a: str, b: str) -> int:
    """The length of the common prefix, backed off so that it does not end inside a special token.

    `<|end|>\\n<|user|>` and `<|end|>\\n<|endoftext|>` share `<|end|>\\n`, not `<|end|>\\n<|`.
    """
    n = len(os.path.commonprefix([a, b]))
    while True:
        head = a[:n]
        back = max((head.rfind(o) for o, c in (("<", ">"), ("[", "]")) if head.rfind(o) > head.rfind(c)), default=n)
        if back == n:
            return n
        n = back
