"""The polyprompt grammar, loaded once per process.

`parser()` returns the one LALR parser (contextual lexer, every token kept),
built from `polyprompt.lark` on first use and cached on disk by Lark, so a
fresh process loads the tables instead of rebuilding them. `parse` runs it
with a per-call comment callback; the parser itself holds no per-parse state,
so threads may parse at once.
"""
from __future__ import annotations

from pathlib import Path

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


#: The folder for Lark's built tables, set by the compiler (`compiler/parse.py`, from the one
#: cache-folder rule of compiler/files.py) before it parses: the grammar imports nothing above it.
CACHE_DIR: "Path | None" = None


def _cache_path(text: str) -> str | bool:
    """Where Lark keeps the built tables (a pickle) for this grammar and Lark version; False (no
    disk cache) when no cache folder was given or it cannot be made."""
    import hashlib

    import lark

    folder = CACHE_DIR
    if folder is None:
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    key = hashlib.sha256((text + lark.__version__).encode()).hexdigest()[:16]
    return str(folder / f"{key}.lark-cache")


# Threads that ask for the parser first wait for one build: two at once would both write Lark's
# cache file, which Lark does not write atomically.
_BUILD_LOCK = threading.Lock()


def parser():
    """The shared Lark parser with start symbols `module` and `template` (built once)."""
    with _BUILD_LOCK:
        return _build_parser()


@functools.lru_cache(maxsize=1)
def _build_parser():
    import lark

    text = grammar_text()
    return lark.Lark(
        text,
        start=["module", "template"],
        parser="lalr",
        lexer="contextual",
        keep_all_tokens=True,  # spans come from the tokens (see compiler.build)
        maybe_placeholders=False,
        lexer_callbacks={"COMMENT": _on_comment},
        postlex=_KeywordsAsNames(),
        cache=_cache_path(text),
    )
