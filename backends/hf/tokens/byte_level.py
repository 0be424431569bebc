"""The tiktoken engine for byte-level BPE tokenizers (Qwen3, SmolLM2, Llama 3, DeepSeek-V3, Tekken).

A byte-level BPE tokenizer is built as a `tiktoken.Encoding` from tokenizer.json: the vocabulary's
bytes as mergeable ranks (ranks = ids), the pre-tokenizer's regex (DeepSeek's three sequential
splits folded into one equivalent regex) with an alternative for the gaps it leaves, the template's
control tokens as tiktoken specials. Text holding a byte the vocabulary lacks is left to tokenizers;
where the tokenizer normalizes to NFC, text Python's quick check does not clear is normalized by
tokenizers' NFC first. docs/model-tokens.md ("Byte-level BPE") tells why the ids are the same.
"""
from __future__ import annotations

import functools
import itertools
import re
from typing import Any

__all__ = ["ByteLevelBPE"]

# GPT-2's pre-tokenizer regex: the ByteLevel pre-tokenizer with use_regex=true.
_GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# DeepSeek-V3's pre-tokenizer: three Isolated splits applied one after the other.
_CJK = "一-龥぀-ゟ゠-ヿ"
_DEEPSEEK_SPLITS = (
    r"\p{N}{1,3}",
    "[" + _CJK + "]+",
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
     "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
)
# The same as one regex: the third split applies inside the text left by the first two, which holds
# no digit and no CJK character, so its classes exclude those and its look-ahead treats them as an end.
_DEEPSEEK_PATTERN = (
    "\\p{N}{1,3}|[" + _CJK + "]+|[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
    "|[^\r\n\\p{L}\\p{P}\\p{S}\\p{N}" + _CJK + "]?[\\p{L}\\p{M}&&[^" + _CJK + "]]+"
    "| ?[\\p{P}\\p{S}&&[^" + _CJK + "]]+[\r\n]*|\\s*[\r\n]+|\\s+(?![^\\s\\p{N}" + _CJK + "])|\\s+"
)


class ByteLevelBPE:
    """Encodes renders and data of a byte-level BPE tokenizer with tiktoken."""

    def __init__(self, encoding: Any, control_split: re.Pattern, missing: list[int], nfc: Any):
        self._encoding = encoding
        self._core = encoding._core_bpe
        self._control_split = control_split  # finds the control tokens a render holds
        self._unencodable = _unencodable_chars(missing)
        self._missing_bytes = tuple(bytes([b]) for b in missing)  # single bytes the vocabulary lacks
        self._missing_ascii = tuple(chr(b) for b in missing if b < 0x80)
        self._nfc = nfc  # tokenizers' NFC normalizer, where the tokenizer normalizes

    @classmethod
    def build(cls, tokenizer: Any, pre_tokenizer: dict | None, normalizer: dict | None, control: list[str],
              specials: dict[str, int], control_split: re.Pattern, name: str) -> ByteLevelBPE | None:
        """The engine of a byte-level BPE `tokenizer` whose added tokens are all `control` tokens,
        or None if it is not one. `specials`: the control tokens a render may hold, with their ids."""
        try:
            import tiktoken
        except ImportError:
            return None
        pattern = _byte_level_pattern(pre_tokenizer)
        model = tokenizer.model
        if pattern is None or type(model).__name__ != "BPE" or model.dropout or model.byte_fallback:
            return None
        if model.continuing_subword_prefix or model.end_of_word_suffix:
            return None
        if not (normalizer is None or normalizer.get("type") == "NFC"
                or (normalizer.get("type") == "Sequence" and not normalizer.get("normalizers"))):
            return None
        # tiktoken matches special tokens leftmost-first, tokenizers leftmost-longest: the same unless a
        # control token begins another one.
        texts = sorted(control)
        if any(b.startswith(a) for a, b in itertools.pairwise(texts)):
            return None
        ranks = _byte_ranks(tokenizer, set(control))
        if ranks is None:
            return None
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if any(0x80 <= b < 0xC0 for b in missing):
            return None
        nfc = None
        if normalizer and normalizer.get("type") == "NFC":
            from tokenizers.normalizers import NFC

            nfc = NFC()
        try:
            encoding = tiktoken.Encoding(f"polyprompt:{name}", pat_str=pattern + _gaps(pattern),
                                         mergeable_ranks=ranks, special_tokens=dict(specials))
        except ValueError:  # a regex tiktoken's engine does not take
            return None
        return cls(encoding, control_split, missing, nfc)

    def takes(self, text: str, data: bytes | None) -> bool:
        """Can a render be encoded in one call: no byte the vocabulary lacks, already NFC where the
        tokenizer normalizes, no whitespace run too long for tiktoken's regex engine? `data`: the
        text as UTF-8, None for ASCII text (single-byte searches run at memchr speed)."""
        if _long_whitespace(text):
            return False
        if data is None:
            return not any(c in text for c in self._missing_ascii)
        if any(b in data for b in self._missing_bytes):
            return False
        return self._nfc is None or _is_nfc(text, data)

    def encode_render(self, text: str) -> list[int]:
        """`tiktoken.encode(text, allowed_special="all")`, passing only the control tokens the text
        holds: tiktoken turns the allowed set into its own on every call, which costs more than finding
        them (no control token begins another here, so both scans find the same ones)."""
        present = set(self._control_split.findall(text))
        try:
            return self._core.encode(text, present)
        except UnicodeEncodeError:  # a lone surrogate: tiktoken's own fallback
            return self._encoding.encode(text, allowed_special=present)

    def encode_data(self, text: str) -> list[int] | None:
        """The ids of data, no control token matched; None when the text holds a byte the vocabulary
        lacks (tokenizers drops it, tiktoken cannot)."""
        if (self._unencodable is not None and self._unencodable.search(text)) or _long_whitespace(text):
            return None
        if self._nfc is not None and not text.isascii() and not _is_nfc(text):
            text = self._nfc.normalize_str(text)
        return self._encoding.encode_ordinary(text)


def _byte_ranks(tokenizer: Any, added: set[str]) -> dict[bytes, int] | None:
    """The vocabulary (added tokens aside) as bytes -> id, or None if it is not written in GPT-2's
    byte-to-character table."""
    u2b = {c: b for b, c in _bytes_to_unicode().items()}
    ranks = {}
    for token, token_id in tokenizer.get_vocab(with_added_tokens=False).items():
        if token in added:
            continue
        try:
            ranks[bytes([u2b[c] for c in token])] = token_id
        except KeyError:
            return None
    return ranks


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-to-character table, which byte-level BPE vocabularies are written in."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def _is_nfc(text: str, data: bytes | None = None) -> bool:
    """Is `text` unchanged by the tokenizer's NFC? Python's quick check answers for the characters its
    Unicode database knows (normalization is stable for assigned characters); a character unknown to
    it (assigned in a later Unicode version) might be a combining mark: then the answer is no, and
    the tokenizers library normalizes. `data` is the text as UTF-8, when the caller has it."""
    import unicodedata

    if not unicodedata.is_normalized("NFC", text):
        return False
    bmp = _unassigned_bmp()
    if bmp.search(text):
        return False
    if data is None:
        data = text.encode("utf-8", "surrogatepass")
    if any(lead in data for lead in _ASTRAL_LEADS):
        known = _ASTRAL_ASSIGNED
        for c in set(_ASTRAL_CHAR.findall(data)):
            if c not in known:
                if unicodedata.category(c.decode("utf-8", "surrogatepass")) == "Cn":
                    return False
                known.add(c)
    return True


#: A whitespace run this long overflows the backtracking stack of tiktoken's regex engine at
#: `\s+(?!\S)` ("Max stack size exceeded for backtracking"): such text goes to the tokenizers library.
LONG_WHITESPACE = 10_000
_LONG_RUN = re.compile(r"(?:^|\S)\s{%d}" % LONG_WHITESPACE)  # from a run's start only: linear


def _long_whitespace(text: str) -> bool:
    """Does `text` hold a run of LONG_WHITESPACE whitespace characters? (Short text cannot.)"""
    return len(text) >= LONG_WHITESPACE and _LONG_RUN.search(text) is not None


_ASTRAL_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")  # first bytes of characters beyond the BMP
_ASTRAL_CHAR = re.compile(rb"[\xf0-\xf4][\x80-\xbf]{3}")
_ASTRAL_ASSIGNED: set[bytes] = set()  # characters beyond the BMP seen assigned (emoji, mostly), as UTF-8


@functools.lru_cache(maxsize=1)
def _unassigned_bmp() -> re.Pattern:
    """The BMP code points Python's Unicode database has unassigned, as one class (re matches a BMP
    class with a bitmap); characters beyond the BMP are looked up one by one (they are few)."""
    import unicodedata

    return re.compile("[" + "".join(re.escape(chr(c)) for c in range(0x10000) if unicodedata.category(chr(c)) == "Cn"
                                    and c not in (0xFFFE, 0xFFFF) and not 0xFDD0 <= c <= 0xFDEF) + "]")


def _byte_level_pattern(pre_tokenizer: Any) -> str | None:
    """The one regex that splits text as this byte-level pre-tokenizer does, if it is a known form."""
    if not pre_tokenizer:
        return None
    kind = pre_tokenizer.get("type")
    if kind == "ByteLevel":
        ok = pre_tokenizer.get("use_regex", True) and not pre_tokenizer.get("add_prefix_space")
        return _GPT2_PATTERN if ok else None
    if kind != "Sequence":
        return None
    steps = pre_tokenizer.get("pretokenizers", [])
    if not steps or steps[-1].get("type") != "ByteLevel" or steps[-1].get("use_regex") \
            or steps[-1].get("add_prefix_space"):
        return None
    splits = steps[:-1]
    if not all(s.get("type") == "Split" and s.get("behavior") == "Isolated" and not s.get("invert")
               and "Regex" in s.get("pattern", {}) for s in splits):
        return None
    patterns = tuple(s["pattern"]["Regex"] for s in splits)
    if len(patterns) == 1:
        return patterns[0]
    if patterns == _DEEPSEEK_SPLITS:
        return _DEEPSEEK_PATTERN
    return None


def _gaps(pattern: str) -> str:
    """An alternative for text the pattern does not match: tokenizers keeps such a gap as one piece,
    tiktoken would drop it. It takes the characters up to where the pattern matches again."""
    return f"|(?:(?!{pattern})[\\s\\S])+"


def _unencodable_chars(missing: list[int]) -> re.Pattern | None:
    """Characters whose UTF-8 bytes include a byte the vocabulary lacks (tokenizers drops such a byte,
    tiktoken cannot): text holding one is encoded by tokenizers."""
    if not missing:
        return None
    ranges = []
    for b in missing:
        if b < 0x80:
            ranges.append((b, b))
        elif 0xC2 <= b <= 0xDF:
            ranges.append(((b - 0xC0) << 6, ((b - 0xC0) << 6) + 0x3F))
        elif 0xE0 <= b <= 0xEF:
            ranges.append((max((b - 0xE0) << 12, 0x800), ((b - 0xE0) << 12) + 0xFFF))
        elif 0xF0 <= b <= 0xF4:
            ranges.append((max((b - 0xF0) << 18, 0x10000), min(((b - 0xF0) << 18) + 0x3FFFF, 0x10FFFF)))
        # C0, C1 and F5-FF never occur in UTF-8
    if not ranges:
        return None
    return re.compile("[" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges) + "]")
