"""The bulk engine: a tokenizer run by fastokens, for encoding many conversations.

fastokens (Apache-2.0, the tokenizer mode vLLM offers under that name) reimplements the tokenizers
library's pipeline in Rust with a JIT-compiled PCRE2 pre-tokenizer: on the test conversations it
encodes 3-10x faster than the tiktoken engines, with the same ids. Building one takes 0.3-3.5 s
(2-3 times the default engines), so `Encoder(bulk=True)` asks for it when many conversations will
be encoded (datasets, benchmarks), and a one-off compile keeps tiktoken.

The engine is given the tokenizer.json with the chat template's control tokens made special, as
the Encoder does to its `tokenizers` copy:

* `encode_render`: a render holding only the template's control tokens, every added token matched,
  as transformers' `apply_chat_template(tokenize=True)` encodes it;
* `encode_data`: data alone, the special tokens (all control tokens among them) never matched, the
  other added tokens matched, as `tokenizers` with `encode_special_tokens` does.

fastokens has no Metaspace pre-tokenizer; Metaspace without splitting (Mistral v3, Llama 2) is the
same as a normalizer writing spaces as "▁" plus a "▁" in front of the text at offset 0 (prepend
scheme "first"): `_without_metaspace` writes the normalizer, the engine adds the "▁".

The engine keeps fastokens' segment cache on (`SEGMENT_CACHE_BYTES` of text and ids): a dataset's
renders repeat the same text between control tokens on every row (the system prompt, "assistant\n"),
and a segment found in the cache is not encoded again. In the tokenizers pipeline a segment's ids
are a function of its text alone, so a cache keyed by that text gives the ids of encoding it
(tokenizers 0.23 source):

* `AddedVocabulary::extract_and_normalize` splits the input at the added tokens first; the
  normalizer, the pre-tokenizer and the model then run on each piece on its own. The flags of the
  added tokens (lstrip/rstrip take whitespace into the token, single_word drops a match) decide
  where the pieces are cut, not how a piece is encoded; a `normalized` token is matched inside a
  piece, after its normalization, which is again a function of the piece.
* ByteLevel's `add_prefix_space` prepends to every piece (pre_tokenizers/byte_level.rs), not only
  to the first.
* The exceptions: Metaspace's prepend scheme "first" adds "▁" only to the piece at offset 0 of the
  input (`offsets_original().0 == 0`, pre_tokenizers/metaspace.rs), and BPE dropout is random. This
  engine has no Metaspace (rewritten away below: it puts the "▁" into the text, so the segment
  holds it), and fastokens never caches a model with dropout.
* No post-processor runs: the engine encodes with `add_special_tokens=False`.

That fastokens' cache keeps to this (its key, its eviction) is what tests/test_tokens_pieces.py
checks, on random renders of repeating pieces against the same engine without the cache,
tokenizers and transformers, on every registry tokenizer. It lowers a ~1 KB render of the dataset bench from
~6.1 to ~5.0 us.

Anything fastokens refuses (a byte missing from a byte-level vocabulary, a lone surrogate) makes the
call return None: the Encoder then takes its exact slow path. The Encoder also checks a new engine
against the tokenizers library on a probe text (`agrees`) before using it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["BulkEngine"]

SPACE = "▁"
#: fastokens' segment cache: text between added tokens -> ids, bounded (see the module docstring)
SEGMENT_CACHE_BYTES = 4 << 20


class BulkEngine:
    """Encodes renders and data with a fastokens tokenizer; see the module docstring."""

    def __init__(self, native: Any, prepend: str | None, openers: tuple[str, ...]):
        self._native = native
        self._encode = native.encode
        self._prepend = prepend  # "first": a "▁" goes in front of text at offset 0 (Metaspace)
        self._openers = openers  # control tokens a render may start with, when prepend is "first"

    @classmethod
    def build(cls, source: str | Path, controls: list[Any], openers: list[str]) -> BulkEngine | None:
        """The engine for a tokenizer.json (its path or text), or None when fastokens is missing or
        does not take the tokenizer. `controls`: the AddedTokens to make special (the Encoder's
        control tokens that are not special already). `openers`: the control tokens the template
        writes, which a render starts with."""
        try:
            import fastokens
        except ImportError:
            return None
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        prepend = None
        if '"Metaspace"' in text:  # (a decoder may be one too: only the pre-tokenizer is rewritten)
            tokenizer = json.loads(text)
            if (tokenizer.get("pre_tokenizer") or {}).get("type") == "Metaspace":
                rewritten, prepend = _without_metaspace(tokenizer, {t.content for t in controls})
                if rewritten is None:
                    return None
                text = rewritten
        try:
            native = fastokens.Tokenizer.from_json_str(text)
            if controls:
                native.add_tokens(controls)
        except (ValueError, RuntimeError, TypeError):  # a component fastokens does not implement
            return None
        native.enable_segment_cache(SEGMENT_CACHE_BYTES)
        return cls(native, prepend, tuple(openers))

    def encode_render(self, text: str) -> list[int] | None:
        """The ids of a render, every added token matched; None when this engine cannot say."""
        if self._prepend is not None and text and not text.startswith(self._openers):
            return None  # the first piece would need the pre-tokenizer's "▁": left to tokenizers
        try:
            return self._encode(text).ids
        except ValueError:
            return None

    def encode_data(self, text: str, first: bool) -> list[int] | None:
        """The ids of data, special tokens never matched. `first`: the text starts the input."""
        if first and self._prepend is not None and text and text[0] not in " " + SPACE:
            text = " " + text
        try:
            return self._encode(text, split_special_tokens=True).ids
        except ValueError:
            return None


def _without_metaspace(tokenizer: dict, made_special: set[str]) -> tuple[str | None, str | None]:
    """The tokenizer.json with its Metaspace pre-tokenizer written as a normalizer replacing " " by
    "▁", and the prepend scheme the engine then applies; (None, None) when that is not the same.

    It is the same when Metaspace does not split ("split": false), no normalizer runs before it, and
    every added token is special or `made_special` (so none is matched inside data, where the engine
    adds the "▁") and none is matched after normalization with a space in it."""
    meta = tokenizer.get("pre_tokenizer") or {}
    if meta.get("type") != "Metaspace" or meta.get("split", True) or tokenizer.get("normalizer") is not None:
        return None, None
    if meta.get("replacement") != SPACE or meta.get("prepend_scheme") not in ("first", "never"):
        return None, None
    for token in tokenizer.get("added_tokens", []):
        special = token.get("special") or token["content"] in made_special
        if not special or (token.get("normalized") and " " in token["content"]):
            return None, None
    tokenizer = dict(tokenizer, pre_tokenizer=None,
                     normalizer={"type": "Replace", "pattern": {"String": " "}, "content": SPACE})
    scheme = meta["prepend_scheme"]
    return json.dumps(tokenizer, ensure_ascii=False), None if scheme == "never" else scheme
