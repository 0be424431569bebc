"""The polyprompt grammar, loaded once per process.

`parser()` returns the one LALR parser (contextual lexer, every token kept),
loaded on first use from the tables shipped beside `polyprompt.lark` (plain JSON,
see `grammar.tables`: no pickle, no disk cache). `parse` runs it
with a per-call comment callback; the parser itself holds no per-parse state,
so threads may parse at once.
"""
from __future__ import annotations

import contextvars
import functools
import threading
from importlib import resources
from typing import Callable

if __name__ != "polyprompt.grammar":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.grammar, not {__name__!r} (repo root is on sys.path)")

GRAMMAR_FILE = "polyprompt.lark"

# The comment callback of the parse running in this thread (or task). Lark fixes its lexer
# callbacks when the parser is built, so `parse` hands each call's callback over here.
_comment_callback: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("comment_callback",
                                                                                    default=None)


def grammar_text() -> str:
    """The text of the Lark grammar."""
    return resources.files(__name__).joinpath(GRAMMAR_FILE).read_text(encoding="utf-8")


def parse(text: str, start: str, on_comment: Callable | None = None):
    """Parse `text` from the rule `start` with the shared parser; `on_comment`, when given,
    receives every `//` comment token of this parse (and of no other). Raises Lark's
    `UnexpectedInput` on a syntax error."""
    token = _comment_callback.set(on_comment)
    try:
        return parser().parse(text, start=start)
    finally:
        _comment_callback.reset(token)


def _on_comment(token):
    callback = _comment_callback.get()
    if callback is not None:
        callback(token)
    return token


class _KeywordsAsNames:
    """Lets the lexer see `NAME` in every parser state.

    Without it, a state that expects the keyword `end` but no name would lex
    `endif` as `end` + `if`; with it, `endif` is one name and the error says
    so. A name equal to a keyword the state expects still becomes the keyword.
    """

    always_accept = ("NAME",)

    def process(self, stream):
        return stream


# Threads that ask for the parser first wait for one load: the first builds it, the others reuse it.
_BUILD_LOCK = threading.Lock()


def parser():
    """The shared Lark parser with start symbols `module` and `template` (built once)."""
    with _BUILD_LOCK:
        return _build_parser()


@functools.lru_cache(maxsize=1)
def _build_parser():
    from . import tables

    text = grammar_text()
    callbacks = {"lexer_callbacks": {"COMMENT": _on_comment}, "postlex": _KeywordsAsNames()}
    return tables.load(text, **callbacks) or tables.build(text, **callbacks)
