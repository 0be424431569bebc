"""Fast, exact encoding of SentencePiece-style BPE tokenizers (Gemma 3, Mistral v3) with tiktoken.

These tokenizers write spaces as "▁" (a normalizer replacing " ", or a Metaspace pre-tokenizer),
run BPE over characters with a list of merges, and spell a character missing from the vocabulary
as its UTF-8 bytes (`<0xE4>`...: byte fallback). `SentencePieceBPE.build` turns one into a
`tiktoken.Encoding` whose ids equal the tokenizers library's. docs/model-tokens.md tells why; in short:

* **Ranks.** tiktoken merges, in a piece, the adjacent pair whose concatenation has the lowest rank;
  tokenizers merges the adjacent pair with the lowest-ranked listed merge. A token T is *included*
  when BPE of T's own characters gives T itself (tokenizers decides, once per tokenizer). Any other
  token is never produced by tokenizers, in any context: the merges inside a token's span only
  depend on that span. For an included T, the merges inside its span are those of T alone, so T
  is always completed by the same merge: one rank per token (`_rank_order`). In every state both
  algorithms then see the same mergeable pairs in the same order, and take the same one (the
  leftmost on ties, in both).
* **Characters first.** tiktoken starts from bytes. Every single byte and every UTF-8 prefix of a
  one-character token ranks below all merges, so characters assemble before any merge, as
  tokenizers starts from characters. The bytes of a character missing from the vocabulary stay
  "virtual" tokens and become their `<0xXX>` ids.
* **Pieces.** tokenizers runs BPE over all the text between two added tokens; tiktoken over each
  piece its split pattern finds. The pattern cuts that text only where no included token crosses
  the cut: before spaces that follow another character (unless some merged token holds that
  character then a space, like Gemma's `>▁</`), and around characters that no merged token holds
  (digits, for these two). Pieces stay short, which keeps BPE cheap (older tiktoken versions are
  quadratic in the piece length).
* **Added tokens that are text** (Gemma's "\\n" and "\\t" runs, `<table>`, `<unused0>`...) are
  matched leftmost-longest, as tokenizers splits them off before BPE: as pieces of the pattern, or
  as tiktoken specials (`_AddedSplit`).

The tables hold "▁" as a space, so text is encoded as it is. Text holding a "▁" of its own (rare) is
left to tokenizers: the added tokens made of "▁" match there.

Deriving the tables runs BPE over every token once (about 5 s for Gemma 3); they are cached under
the asset cache (`assets.cache.cache_dir()/spm`), keyed by a digest of tokenizer.json.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

__all__ = ["SentencePieceBPE", "trie_pattern"]

SPACE = "▁"
# Bump when what the cache holds, or how it is derived, changes.
_LAYOUT = 1
# More merged tokens than this with a space after another character: never cut before spaces.
_MAX_JOINS = 256


class SentencePieceBPE:
    """Encodes text as the tokenizers library encodes it with a SentencePiece-style BPE tokenizer."""

    def __init__(self, encoding: Any, table: _RankTable, special: dict[str, int], added: _AddedSplit,
                 prepend: bool):
        self._encoding = encoding
        self._rank_ids = table.rank_ids  # rank -> token id
        self._byte_ids = table.byte_ids  # rank of a multi-byte virtual token (id -1) -> its byte-fallback ids
        self._special = frozenset(special)
        self._find_added = added.finder
        # Metaspace "first": is an added token at offset 0 (in data; with the specials matched)?
        self._added_at_start = None
        if prepend:
            self._added_at_start = (re.compile(trie_pattern(added.ids)), re.compile(trie_pattern([*added.ids, *special])))

    @classmethod
    def build(cls, tokenizer: Any, added: list[tuple[int, Any]], control: dict[str, int],
              special: dict[str, int], cache_key: Callable[[], str] | None = None) -> SentencePieceBPE | None:
        """The encoder of `tokenizer`, or None when it is not a SentencePiece-style BPE this module
        reproduces. `added`: (id, AddedToken) for every added token, as loaded; `control`: the
        control tokens, never matched inside data; `special`: those `encode(special=True)` matches;
        `cache_key`: gives the cache key of the model's tables (a digest of tokenizer.json)."""
        try:
            import tiktoken
        except ImportError:
            return None
        prepend = _space_handling(_state(tokenizer.normalizer), _state(tokenizer.pre_tokenizer))
        if prepend is None or not _model_supported(tokenizer.model):
            return None
        text_tokens = _text_added_tokens(added, control, tokenizer.normalizer is not None)
        if text_tokens is None:
            return None
        split = _AddedSplit(text_tokens)
        if split.overlapping or not _prefix_free([*special, *split.as_special]):
            return None
        tables = _model_tables(tokenizer, cache_key() if cache_key is not None else None)
        if tables is None:
            return None
        try:
            table = _RankTable(tables)
        except UnicodeEncodeError:  # a token holding a lone surrogate
            return None
        if not table.add_whole(text_tokens, split.in_pattern):
            return None
        table.add_special({**special, **split.as_special})
        try:
            encoding = tiktoken.Encoding(f"polyprompt-spm:{id(table)}", pat_str=_split_pattern(tables, split.in_pattern),
                                         mergeable_ranks=table.ranks, special_tokens=table.special_ranks)
        except ValueError:  # a pattern tiktoken's regex engine does not take
            return None
        return cls(encoding, table, special, split, prepend)

    def accepts(self, text: str) -> bool:
        """Can `encode` take `text`? Not when it holds a "▁" of its own."""
        return SPACE not in text

    def encode(self, text: str, *, first: bool, special: bool = False) -> list[int]:
        """Token ids of `text`. `first`: the text starts the whole input (where Metaspace "first"
        adds "▁"). `special`: match the control tokens given to `build` as `special`; otherwise
        every control token is text."""
        allowed = self._special if special else None
        if self._find_added is not None:
            found = self._find_added.findall(text)
            if found:  # added tokens that tiktoken matches as specials: allow those the text holds
                allowed = self._special.union(found) if special else frozenset(found)
        if first and self._added_at_start is not None and text and text[0] != " " \
                and not self._added_at_start[special].match(text):
            text = " " + text
        encoding = self._encoding
        if allowed is None:
            ranks = encoding.encode_ordinary(text)
        else:
            ranks = encoding.encode(text, allowed_special=allowed, disallowed_special=())
        rank_ids = self._rank_ids
        ids = [rank_ids[r] for r in ranks]
        if text.isascii():
            return ids
        try:  # a multi-byte virtual token: the first bytes of a character the vocabulary lacks
            at = ids.index(-1)
        except ValueError:
            return ids
        return self._with_bytes(ids, ranks, at)

    def _with_bytes(self, ids: list[int], ranks: list[int], at: int) -> list[int]:
        """`ids` with each multi-byte virtual token (id -1, the first at `at`) spelled as its bytes."""
        out: list[int] = []
        pos = 0
        while at >= 0:
            out += ids[pos:at]
            out += self._byte_ids[ranks[at]]
            pos = at + 1
            try:
                at = ids.index(-1, pos)
            except ValueError:
                at = -1
        out += ids[pos:]
        return out


# --- which tokenizers ----------------------------------------------------------------------------

def _state(component: Any) -> dict | None:
    return None if component is None else json.loads(component.__getstate__())


def _space_handling(normalizer: dict | None, pre_tokenizer: dict | None) -> bool | None:
    """How the tokenizer writes spaces: False (every " " becomes "▁"), True (the same, and a "▁" is
    added to text at offset 0 of the input: Metaspace's "first"), None (some other way)."""
    if normalizer == {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}:
        # Gemma's Split on " " comes after that normalizer: it finds no space and changes nothing
        if pre_tokenizer is None or (pre_tokenizer.get("type") == "Split" and not pre_tokenizer.get("invert")
                                     and pre_tokenizer.get("pattern") == {"String": " "}):
            return False
        return None
    if normalizer is None and pre_tokenizer and pre_tokenizer.get("type") == "Metaspace" \
            and pre_tokenizer.get("replacement") == SPACE and not pre_tokenizer.get("split"):
        schemes: dict[Any, bool] = {"first": True, "never": False}  # the value may be any JSON value
        return schemes.get(pre_tokenizer.get("prepend_scheme"))
    return None


def _model_supported(model: Any) -> bool:
    return (type(model).__name__ == "BPE" and model.byte_fallback and not model.dropout
            and not model.ignore_merges and not model.continuing_subword_prefix and not model.end_of_word_suffix)


def _text_added_tokens(added: list[tuple[int, Any]], control: dict[str, int], normalizes: bool) -> dict[str, int] | None:
    """The added tokens that are text (not control tokens): content -> id. None when one is matched
    in a way the split pattern does not reproduce, or can overlap a control token (tiktoken finds
    control tokens first, tokenizers takes the leftmost added token)."""
    tokens = [t for _, t in added if t.content not in control]
    if any(t.single_word or t.lstrip or t.rstrip or (t.normalized and normalizes) or t.content.startswith(" ")
           for t in tokens):
        return None
    if _any_overlap([t.content for t in tokens], list(control)):
        return None
    return {t.content: i for i, t in added if t.content not in control}


def _prefix_free(tokens: Iterable[str]) -> bool:
    """Does no token begin another? tiktoken matches specials leftmost-first in no set order,
    tokenizers leftmost-longest: the same only then."""
    ordered = sorted(tokens)
    return not any(b.startswith(a) for a, b in itertools.pairwise(ordered))


def _any_overlap(texts: list[str], others: list[str]) -> bool:
    """Can an occurrence of one of `texts` share a character with an occurrence of one of `others`?"""
    if not texts or not others:
        return False
    inside = {o[i:j] for o in others for i in range(len(o)) for j in range(i + 1, len(o) + 1)}
    prefixes = {o[:k] for o in others for k in range(1, len(o))}
    suffixes = {o[k:] for o in others for k in range(1, len(o))}
    holds_other = re.compile(trie_pattern(others))
    return any(t in inside or holds_other.search(t)
               or any(t[k:] in prefixes or t[:k] in suffixes for k in range(1, len(t))) for t in texts)


class _AddedSplit:
    """How the added tokens that are text are matched, leftmost-longest as tokenizers does. Those
    that begin with a one-character added token ("\\n", "\\n\\n"... for Gemma) are pieces of the
    split pattern: a word never holds that character. The others (`<table>`, `<unused0>`) are
    tiktoken specials, allowed in a call when the text holds them. In the pattern, a word would
    need a look-ahead at each of their first characters, and tiktoken's regex engine runs several
    times slower with one; passing all of them to every call would cost more than the encoding."""

    def __init__(self, tokens: dict[str, int]):
        self.ids = tokens
        usable = [t for t in tokens if SPACE not in t]  # text with a "▁" goes to tokenizers
        single = {t for t in usable if len(t) == 1}
        self.in_pattern = [t for t in usable if t[0] in single]
        self.as_special = {t: tokens[t] for t in usable if t[0] not in single}
        self.finder = re.compile(trie_pattern(self.as_special)) if self.as_special else None
        # tokenizers takes the leftmost of them all: matching them in two ways needs them apart
        self.overlapping = _any_overlap(list(self.as_special), self.in_pattern)


# --- the model's tables ----------------------------------------------------------------------------

def _model_tables(tokenizer: Any, cache_key: str | None) -> dict | None:
    """What the rank table and the split pattern need from the BPE model (None: not supported):

    * chars, char_ids: the one-character tokens ("▁" written " ");
    * byte_ids: the ids of <0x00>..<0xFF>;
    * merged, merged_ids: the included multi-character tokens, in the order of their merge;
    * joinable: the characters merged tokens hold; joins: the merged tokens holding a character
      then a space.
    """
    cache = _cache_file(cache_key)
    if cache is not None:
        try:
            tables = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tables = None
        if isinstance(tables, dict) and "supported" in tables:
            return tables if tables["supported"] else None
    tables = _derive_tables(tokenizer)
    if cache is not None:
        _write_atomically(cache, json.dumps(tables or {"supported": False}, ensure_ascii=False))
    return tables


def _derive_tables(tokenizer: Any) -> dict | None:
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    if SPACE not in vocab or any(b not in vocab for b in byte_tokens):
        return None
    merges = _merge_pairs(json.loads(tokenizer.model.__getstate__())["merges"])
    if len(set(merges)) != len(merges):
        return None  # a pair listed twice: tokenizers keeps the last rank; not handled here
    produced: dict[str, list[int]] = {}
    for rank, (a, b) in enumerate(merges):
        produced.setdefault(a + b, []).append(rank)
    # a token holding a space never comes out: the text has none left, they are all "▁"
    included = _self_reachable(tokenizer.model, vocab, [t for t in produced if " " not in t])
    order = _rank_order(included, produced, merges, vocab)
    if order is None:
        return None
    merged = sorted(included, key=order.__getitem__)
    chars = [t for t in vocab if len(t) == 1 and t != " "]
    as_text = [t.replace(SPACE, " ") for t in merged]
    joins = [t for t in as_text if " " in t.lstrip(" ")]
    return {"supported": True, "chars": [c.replace(SPACE, " ") for c in chars], "char_ids": [vocab[c] for c in chars],
            "byte_ids": [vocab[b] for b in byte_tokens], "merged": as_text, "merged_ids": [vocab[t] for t in merged],
            "joinable": "".join(sorted(set("".join(as_text)))), "joins": joins}


def _merge_pairs(merges: list) -> list[tuple[str, str]]:
    """tokenizer.json's merges: [a, b] lists, or "a b" strings in older files."""
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]


def _self_reachable(model: Any, vocab: dict[str, int], tokens: list[str]) -> list[str]:
    """The tokens that the BPE model encodes, alone, as that one token."""
    from tokenizers import Tokenizer

    bare = Tokenizer(model)  # no normalizer, pre-tokenizer or added token: each string is one word
    encodings = bare.encode_batch_fast(tokens, add_special_tokens=False)
    return [t for t, e in zip(tokens, encodings) if e.ids == [vocab[t]]]


def _rank_order(included: list[str], produced: dict[str, list[int]], merges: list[tuple[str, str]],
                vocab: dict[str, int]) -> dict[str, int] | None:
    """A sort key that puts the included tokens in the order of the merge completing each.

    tokenizers completes an included token with one merge only (see the module docstring), not
    always the first one listed for it. When a token's merges are consecutive in the list, no
    other token's merge lies between them, and the first one sorts the token right. Otherwise BPE
    runs on the token to find the merge (few tokens: Gemma's whitespace runs).
    """
    pair_rank: dict[tuple[int, int], int] | None = None
    order = {}
    for token in included:
        ranks = produced[token]
        if ranks[-1] - ranks[0] + 1 == len(ranks):
            order[token] = ranks[0]
            continue
        if pair_rank is None:
            pair_rank = {(vocab[a], vocab[b]): r for r, (a, b) in enumerate(merges)}
        last = _last_merge(token, vocab, pair_rank, merges)
        if last is None:
            return None  # BPE here disagrees with the library on this token: no fast path
        order[token] = last
    return order


def _last_merge(token: str, vocab: dict[str, int], pair_rank: dict[tuple[int, int], int],
                merges: list[tuple[str, str]]) -> int | None:
    """The rank of the merge that completes `token` when BPE (the lowest-ranked listed merge first,
    the leftmost on ties, as tokenizers) runs on its characters alone; None if it does not end in
    `token`."""
    found = [vocab.get(c) for c in token]
    if None in found:
        return None
    symbols = cast("list[int]", found)  # no None in it
    while len(symbols) > 1:
        best, at = None, 0
        for k in range(len(symbols) - 1):
            rank = pair_rank.get((symbols[k], symbols[k + 1]))
            if rank is not None and (best is None or rank < best):
                best, at = rank, k
        if best is None:
            return None
        if len(symbols) == 2:
            return best
        a, b = merges[best]
        symbols[at:at + 2] = [vocab[a + b]]
    return None


def _cache_file(cache_key: str | None) -> Path | None:
    if cache_key is None:
        return None
    import tokenizers

    from ..assets.cache import cache_dir

    return cache_dir() / "spm" / f"{cache_key}-{_LAYOUT}-{tokenizers.__version__}.json"


def _write_atomically(path: Path, text: str) -> None:
    """Write the cache file whole or not at all; a cache that cannot be written only costs time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


# --- tiktoken's rank table -------------------------------------------------------------------------

class _RankTable:
    """tiktoken's mergeable ranks (bytes -> rank) and rank -> token id. From the lowest rank:
    virtual tokens (UTF-8 prefixes of one-character tokens, then single bytes, that are no token
    themselves), one-character tokens, merged tokens in merge order, added tokens (only ever
    looked up whole), then the special tokens (which tiktoken keeps apart). A virtual single byte
    stands for its one byte-fallback id; a longer one for several (`byte_ids`)."""

    def __init__(self, tables: dict):
        chars = [c.encode("utf-8") for c in tables["chars"]]
        prefixes = {c[:k] for c in chars for k in range(2, len(c))}.difference(chars)
        single = {bytes([b]) for b in range(256)}.difference(chars)
        byte_ids = tables["byte_ids"]
        longer = sorted(prefixes)
        self.byte_ids = [tuple(byte_ids[b] for b in v) for v in longer]
        keys = longer + sorted(single) + chars + [t.encode("utf-8") for t in tables["merged"]]
        self.ranks = dict(zip(keys, range(len(keys))))
        self.rank_ids = ([-1] * len(longer) + [byte_ids[b[0]] for b in sorted(single)] + tables["char_ids"]
                         + tables["merged_ids"])
        self.special_ranks: dict[str, int] = {}

    def add_whole(self, tokens: dict[str, int], pieces: list[str]) -> bool:
        """Added tokens: those that are pieces of the split pattern are looked up whole, never
        merged into, so they rank last. False if one is in the table under another id."""
        for text, token_id in tokens.items():
            key = text.replace(SPACE, " ").encode("utf-8")
            if key in self.ranks and self.rank_ids[self.ranks[key]] != token_id:
                return False
        for text in pieces:
            key = text.encode("utf-8")
            if key not in self.ranks:
                self.ranks[key] = len(self.rank_ids)
                self.rank_ids.append(tokens[text])
        return True

    def add_special(self, special: dict[str, int]) -> None:
        for text, token_id in special.items():
            self.special_ranks[text] = len(self.rank_ids)
            self.rank_ids.append(token_id)


# --- the split pattern -----------------------------------------------------------------------------

def _split_pattern(tables: dict, added: list[str]) -> str:
    """tiktoken's split pattern, in pieces that no included token crosses. A piece is:

    * an added token, the longest at its position (each begins with a one-character added token,
      which ends any other piece: `_AddedSplit`);
    * spaces, then characters that merged tokens hold, cut before spaces that follow a character,
      unless some merged token holds that character then a space (Gemma's `>▁</`: then the spaces
      stay with it);
    * a run of spaces that no such character follows;
    * any other single character: no merged token holds it, so a cut on both sides is safe.

    No look-around: tiktoken's regex engine runs several times slower with one.
    """
    joinable = set(tables["joinable"]) - {" "}
    joins = _join_chars(tables["joins"])
    single = {a for a in added if len(a) == 1}
    if joins is None:  # too many to list: spaces never end a word
        joinable.add(" ")
        joins = set()
    joins -= single
    plain = joinable - single - joins
    word = ([f"[{_class(plain)}]+"] if plain else []) + [_literal(c) + "(?:[ ]+)?" for c in sorted(joins)]
    pieces = [_alternatives(added)] if added else []
    if word:
        pieces.append(("" if " " in joinable else "[ ]*") + f"(?:{'|'.join(word)})+")
    return "|".join([*pieces, "[ ]+", r"[\s\S]"])


def _join_chars(tokens: list[str]) -> set[str] | None:
    """The characters followed by a space inside some merged token (from the merged tokens that
    hold a character then a space); None when there are more than _MAX_JOINS such tokens."""
    if len(tokens) > _MAX_JOINS:
        return None
    return {token[k] for token in tokens for k in range(len(token) - 1) if token[k] != " " and token[k + 1] == " "}


# tiktoken's (Rust) regex: its meta characters, and ASCII controls for legibility, written \\x{..}
_ESCAPES = str.maketrans({c: f"\\x{{{ord(c):X}}}" for c in [*map(chr, range(33)), *"\\.+*?()|[]{}^$#&-~", "\x7f"]})


def _literal(text: str) -> str:
    """`text` as a literal of tiktoken's regex."""
    return text.translate(_ESCAPES)


def _class(chars: Iterable[str]) -> str:
    """The inside of a character class holding `chars`, as ranges."""
    points = sorted(ord(c) for c in chars)
    parts = []
    start = prev = points[0]
    for p in [*points[1:], -1]:
        if p == prev + 1:
            prev = p
            continue
        parts.append(_literal(chr(start)) + ("" if start == prev else "-" + _literal(chr(prev))))
        start = prev = p
    return "".join(parts)


def _alternatives(strings: Iterable[str]) -> str:
    """A Rust regex matching any of `strings`, the longest first (its alternation is ordered)."""
    return "(?:" + "|".join(_literal(s) for s in sorted(strings, key=len, reverse=True)) + ")"


def trie_pattern(strings: Iterable[str], escape: Callable[[str], str] = re.escape) -> str:
    """A regex matching any of `strings`, the longest at a position (as tokenizers matches added
    tokens), built as a trie: Python's re scans it much faster than an alternation of hundreds."""
    trie: dict = {}
    for text in strings:
        node = trie
        for ch in text:
            node = node.setdefault(ch, {})
        node[""] = True
    if not trie:
        return "(?!)"

    def emit(node: dict) -> str:
        branches = [escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a token ends here: a longer one is tried first
            return body + "?" if len(branches) == 1 and len(body) == 1 else f"(?:{body})?"
        return body

    return emit(trie)
