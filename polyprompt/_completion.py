"""Bash completion that keeps target names whole: `hf-family:qwen3` holds a colon, and bash splits
words at colons (COMP_WORDBREAKS), so click's stock bash completion would see `hf-family`, `:` and
`qw` as three words. The words split at a colon are joined again before completing, and each
completion drops the part before the last colon, which bash keeps in place (what bash-completion's
`__ltrim_colon_completions` does).
"""
from __future__ import annotations

import os
from typing import Any

from click.shell_completion import BashComplete as _ClickBash
from click.shell_completion import CompletionItem, split_arg_string


class BashComplete(_ClickBash):
    """click's bash completion, with words that bash split at a colon joined again."""

    name = "bash"
    _kept = ""  # the part of the word bash keeps: up to its last colon

    def get_completion_args(self) -> tuple[list[str], str]:
        """The words before the cursor and the word being completed, colon-split words joined."""
        cwords = split_arg_string(os.environ["COMP_WORDS"])
        cword = int(os.environ["COMP_CWORD"])
        words = join_colons(cwords[1:cword + 1] + [""] * (cword + 1 - len(cwords)))
        incomplete = words[-1] if words else ""
        if ":" in incomplete and len(words) < cword:  # bash split the word: it keeps what comes before the colon
            self._kept = incomplete.rpartition(":")[0] + ":"
        return words[:-1], incomplete

    def format_completion(self, item: CompletionItem[Any]) -> str:
        """`type,value`, the value without the part bash keeps."""
        value = item.value
        if self._kept and isinstance(value, str) and value.startswith(self._kept):
            value = value[len(self._kept):]
        return f"{item.type},{value}"


def join_colons(words: list[str]) -> list[str]:
    """Words as typed: `["-t", "hf-family", ":", "qw"]` -> `["-t", "hf-family:qw"]`."""
    out: list[str] = []
    for word in words:
        if out and word and (word == ":" or out[-1].endswith(":")) and out[-1] != "":
            out[-1] += word
        else:
            out.append(word)
    return out
