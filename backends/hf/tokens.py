"""Token ids for a rendered chat, equal to transformers' and safe against special-token injection.

`Encoder.from_dir(path)` reads a Hugging Face tokenizer folder (tokenizer.json, tokenizer_config.json,
generation_config.json if any) with the `tokenizers` library, and, for byte-level BPE tokenizers, with
`tiktoken` too. It never imports transformers, so it loads in a fraction of a second.

How ids are computed (docs/model-tokens.md tells the same with examples):

* transformers' `apply_chat_template(messages, tokenize=True)` renders the template to text and encodes
  that text with `add_special_tokens=False`: the added tokens written in the text (`<|im_start|>`,
  `<bos>`...) are matched first, leftmost-longest, and the text between them goes through the
  normalizer, the pre-tokenizer and the BPE model. No BOS/EOS is added by a post-processor: the
  template writes them.
* `Encoder.encode_chat(rendered)` does the same split with the chat template's *control tokens*
  only. The inputs were passed through `Encoder.protect` before rendering: there every control-token
  text inside data is replaced by a private-use sentinel character, so every control token left in the
  render was written by the template itself. The pieces between them get their data back (sentinels
  become the original text again) and are encoded with no control token matched: data can never
  produce a control-token id. For ordinary data (no control-token text in it) the ids are exactly
  those of `apply_chat_template(..., tokenize=True)`.

Control tokens are the tokenizer's special tokens, plus its non-special added tokens that are markup
of the chat format: those the chat template source contains (Qwen's `<think>`, `<tool_call>`,
DeepSeek's `<｜User｜>`...), those shaped like control markers (`<|...|>`, `<｜...｜>`, `[NAME]`, e.g.
Qwen's FIM tokens, Mistral's `[REFERENCE_DOC_0]`), and any listed in the config's
`chat_control_tokens`. Whitespace-only added tokens (Gemma's "\\n") and the other non-special added
tokens (Gemma's `<table>`, `<h1>`...) are ordinary text: data containing them gets the same ids as
transformers gives.

The fast paths: a byte-level BPE tokenizer (Qwen3, SmolLM2, Llama 3, DeepSeek-V3, Mistral Tekken) is
also built as a `tiktoken.Encoding` from tokenizer.json: the vocabulary's bytes as mergeable ranks
(ranks = ids), the pre-tokenizer's regex (DeepSeek's three sequential splits folded into one
equivalent regex), the template's control tokens as tiktoken special tokens. A SentencePiece-style BPE
tokenizer with byte fallback (Gemma 3, Mistral v3) is built as one too, with remapped ranks
(`spm.SentencePieceBPE`). tests/test_hf_tokens.py and tests/test_hf_spm.py prove the ids identical to
the tokenizers library's on every test conversation and on a corpus with every Unicode code point.
Any tokenizer the fast paths do not recognize is encoded by `tokenizers`.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .spm import trie_pattern as _trie_pattern

__all__ = ["Encoder", "UnsupportedTokenizer"]

# Sentinels: a private-use character of plane 16 per control token; ESCAPE protects data characters
# that are themselves in the sentinel range (they come back unchanged).
_BASE = 0x100000
ESCAPE = chr(_BASE)
_MAX_CONTROL = 0x10FFFD - _BASE - 1

# Non-special added tokens shaped like markup of a chat format: <|name|>, <｜name｜>, [NAME], [/NAME].
_MARKER = re.compile(r"<\|[^\s|]+\|>|<｜[^\s｜]+｜>|\[/?[A-Z][A-Z0-9_]*\]")

# Tokens that end a turn or the text; those that are special tokens of a tokenizer are stop ids.
_END_TOKENS = ("<|endoftext|>", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>",
               "<end_of_turn>", "<eos>", "</s>", "<｜end▁of▁sentence｜>")

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


class UnsupportedTokenizer(ValueError):
    """The tokenizer uses a feature whose effect on split text this module does not reproduce."""


def _content(token: Any) -> str | None:
    """A token as written in tokenizer_config.json: a string or an AddedToken dict."""
    if isinstance(token, dict):
        return token.get("content")
    return token if isinstance(token, str) else None


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


def _trivial_normalizer(normalizer: Any) -> bool:
    return normalizer is None or (normalizer.get("type") == "Sequence" and not normalizer.get("normalizers"))


class Encoder:
    """Encodes chats rendered from protected inputs; see the module docstring.

    Attributes: `chat_template` (the default template source, or None), `chat_templates` (name ->
    source), `bos_token`, `eos_token`, `control_tokens` (content -> id), `stop_ids`, `fast` (True when
    tiktoken encodes a byte-level BPE), `engine` ("tiktoken", "sentencepiece": tiktoken with the
    tables of spm.py, or "tokenizers"), `path`.
    """

    def __init__(self, tokenizer: Any, config: dict | None = None, generation_config: dict | None = None,
                 chat_template: str | dict[str, str] | list | None = None, *, fast: bool = True,
                 path: Path | None = None, tokenizer_file: Path | None = None):
        """`tokenizer`: a `tokenizers.Tokenizer` (it is changed: control tokens become special), or the
        text of a tokenizer.json. Use `from_dir` to load a folder. `tokenizer_file`: the tokenizer.json
        `tokenizer` was read from; a digest of it keys the SentencePiece fast path's cached tables."""
        from tokenizers import AddedToken, Tokenizer

        cache_key = None
        if isinstance(tokenizer, (str, bytes)):
            text = tokenizer if isinstance(tokenizer, str) else tokenizer.decode()
            cache_key = functools.partial(_digest, text.encode())
            tokenizer = Tokenizer.from_str(text)
        elif tokenizer_file is not None:
            cache_key = functools.partial(_file_digest, tokenizer_file)
        config = dict(config or {})
        self.path = path
        self.chat_templates = _templates(chat_template if chat_template is not None else config.get("chat_template"))
        self.chat_template = self.chat_templates.get("default")
        self.bos_token = _content(config.get("bos_token"))
        self.eos_token = _content(config.get("eos_token"))
        self.pad_token = _content(config.get("pad_token"))

        added = [(token_id, t) for token_id, t in sorted(tokenizer.get_added_tokens_decoder().items())]
        self.added_tokens = {t.content: token_id for token_id, t in added}
        normalizer = _state(tokenizer.normalizer)
        template_text = "\0".join(self.chat_templates.values())
        listed = set(config.get("chat_control_tokens") or ())
        control = [(i, t) for i, t in added if t.special or t.content in listed
                   or (not t.content.isspace() and (t.content in template_text or _MARKER.fullmatch(t.content)))]
        if len(control) > _MAX_CONTROL:
            raise UnsupportedTokenizer(f"{len(control)} control tokens: more than the sentinels available")
        for _, t in control:
            if t.single_word:
                raise UnsupportedTokenizer(f"control token {t.content!r} is single_word")
            if t.normalized and not _trivial_normalizer(normalizer):
                raise UnsupportedTokenizer(f"control token {t.content!r} is matched after normalization")
        self.control_tokens = {t.content: i for i, t in control}
        self._special = {t.content for _, t in added if t.special}
        self._control_list = [t.content for _, t in control]
        self._sentinel = {text: chr(_BASE + 1 + k) for k, text in enumerate(self._control_list)}
        self._from_sentinel = {s: text for text, s in self._sentinel.items()}
        top = chr(_BASE + len(self._control_list))
        sentinel_chars = f"[{ESCAPE}-{top}]"
        # protect(): control-token text, or a character of the sentinel range, inside data
        self._danger = re.compile(_trie_pattern(self._control_list) + "|" + sentinel_chars)
        self._trie = re.compile(_trie_pattern(self._control_list))
        # encode: an escaped data character, or a sentinel
        self._sentinels = re.compile(f"{ESCAPE}({sentinel_chars})|[{chr(_BASE + 1)}-{top}]") if control else None
        # the split of a render at the template's control tokens (with their lstrip/rstrip whitespace)
        self._stripped = any(t.lstrip or t.rstrip for _, t in control)
        if self._stripped:
            longest_first = sorted(control, key=lambda c: len(c[1].content), reverse=True)
            self._split = re.compile("|".join(("\\s*" if t.lstrip else "") + re.escape(t.content)
                                              + ("\\s*" if t.rstrip else "") for _, t in longest_first))
        else:
            self._split = re.compile(_trie_pattern(self._control_list))
        # The control tokens a template writes: those in its source, the config's named tokens, those
        # listed in chat_control_tokens. A render holding any other one is encoded piece by piece.
        named = {_content(config.get(k)) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
        self._template_tokens = {c: i for c, i in self.control_tokens.items()
                                 if c in template_text or c in named or c in listed}
        if len(self.control_tokens) <= 64:  # tiktoken takes a small set of specials per call cheaply
            self._template_tokens = dict(self.control_tokens)
        others = [c for c in self._control_list if c not in self._template_tokens]
        self._others = re.compile(_trie_pattern(others)) if others else None
        self._initials = "".join(sorted({c[0] for c in self._control_list}))
        # protect() may look at a value's JSON text when JSON writes every control token as it is
        self._json_check = all(json.dumps(c, ensure_ascii=False)[1:-1] == c for c in self._control_list)

        # Text between control tokens is encoded with the control tokens made special (an existing
        # added token keeps its id) and special tokens not matched.
        tokenizer.add_special_tokens([AddedToken(t.content, special=True, normalized=t.normalized,
                                                 lstrip=t.lstrip, rstrip=t.rstrip)
                                      for _, t in control if not t.special])
        tokenizer.encode_special_tokens = True
        self._tokenizer = self._later = tokenizer
        # A Metaspace pre-tokenizer with prepend_scheme "first" adds "▁" only to text at offset 0 of the
        # whole input: later pieces are encoded by a copy that never prepends.
        pre_tokenizer = _state(tokenizer.pre_tokenizer)
        later = _never_prepend(pre_tokenizer)
        if later is not None:
            import copy

            self._later = copy.deepcopy(tokenizer)
            changed = copy.deepcopy(tokenizer.pre_tokenizer)
            changed.__setstate__(json.dumps(later).encode())
            self._later.pre_tokenizer = changed
            self._later.encode_special_tokens = True

        self.stop_ids = self._stop_ids(generation_config or {})
        self._tiktoken = None
        self._nfc = None
        self._unencodable = None
        self._missing_bytes: tuple[bytes, ...] = ()  # single bytes the byte-level vocabulary lacks
        self._missing_ascii: tuple[str, ...] = ()
        self._spm = None
        if fast:
            self._tiktoken = self._build_tiktoken(tokenizer, pre_tokenizer, normalizer, len(added))
        if fast and self._tiktoken is None:
            from .spm import SentencePieceBPE

            self._spm = SentencePieceBPE.build(tokenizer, added, self.control_tokens, self._template_tokens, cache_key)
        self.fast = self._tiktoken is not None
        self.engine = "tiktoken" if self.fast else "sentencepiece" if self._spm is not None else "tokenizers"

    # --- loading ---------------------------------------------------------------------------------

    @classmethod
    def from_dir(cls, path: str | Path, *, fast: bool = True) -> Encoder:
        """Load a tokenizer folder: tokenizer.json, tokenizer_config.json (its chat_template, or
        chat_template.jinja / chat_template.json beside it) and generation_config.json if present."""
        from tokenizers import Tokenizer

        path = Path(path)
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        config_file = path / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        template: Any = None
        if (path / "chat_template.jinja").is_file():
            template = (path / "chat_template.jinja").read_text(encoding="utf-8")
        elif (path / "chat_template.json").is_file():
            template = json.loads((path / "chat_template.json").read_text(encoding="utf-8")).get("chat_template")
        gen_file = path / "generation_config.json"
        generation = json.loads(gen_file.read_text(encoding="utf-8")) if gen_file.is_file() else None
        return cls(tokenizer, config, generation, template, fast=fast, path=path, tokenizer_file=path / "tokenizer.json")

    def __repr__(self) -> str:
        return f"Encoder({str(self.path) if self.path else '<tokenizer.json>'}, engine={self.engine!r})"

    # --- protecting data -------------------------------------------------------------------------

    def protect(self, value: Any) -> Any:
        """`value` (a string, or lists/tuples/dicts of them, e.g. messages or tools) with every
        control-token text inside strings replaced by a private-use sentinel. Render the chat template
        with protected inputs, then `encode_chat` the render: the sentinels become text again there.
        Dict keys are protected too; other values are kept. A value with nothing to protect is
        returned itself, not a copy.
        """
        if isinstance(value, str):
            return self._protect_str(value)
        if value is None or not self._control_list:
            return value
        if self._json_check:
            # One C-speed look at the whole value first: most inputs hold nothing to protect.
            try:
                text = _json_text(value)
            except (TypeError, ValueError, RecursionError):
                text = None
            if text is not None and not self._trie.search(text) and (text.isascii() or not _has_plane_16(text)):
                return value
        return self._protect_deep(value)

    def _protect_deep(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._protect_str(value)
        if isinstance(value, dict):
            return {self._protect_str(k) if isinstance(k, str) else k: self._protect_deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._protect_deep(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._protect_deep(v) for v in value)
        return value

    def _protect_str(self, value: str) -> str:
        if value.isascii():  # no sentinel-range character: only control tokens to look for
            if not any(ch in value for ch in self._initials) or not self._trie.search(value):
                return value
        elif not self._trie.search(value) and not _has_plane_16(value):
            return value
        return self._danger.sub(self._hide, value)

    def _hide(self, match: re.Match) -> str:
        text = match.group()
        return self._sentinel.get(text) or ESCAPE + text

    def _show(self, match: re.Match) -> str:
        return match.group(1) or self._from_sentinel[match.group()]

    def restore(self, text: str) -> str:
        """A protected string (or a render of protected inputs) with the data's own text back."""
        if self._sentinels is None or text.isascii() or not _has_plane_16(text):
            return text
        return self._sentinels.sub(self._show, text)

    # --- encoding --------------------------------------------------------------------------------

    def encode_chat(self, rendered_text: str, data_strings: Iterable[str] = ()) -> list[int]:
        """The token ids of a chat rendered from `protect`-ed inputs.

        Control tokens written by the template become their ids; all other text, the data included,
        is encoded as text, so data never yields a control-token id. For data without control-token
        text the ids equal transformers' `apply_chat_template(..., tokenize=True)`.

        `data_strings` are strings that went into the render *without* `protect` (a template variable,
        say): each must hold no control-token text, else ValueError, because nothing could tell their
        control tokens from the template's.
        """
        for s in data_strings:
            if self._protect_str(s) != s:
                raise ValueError(f"data string holds control-token text, protect() it before rendering: {s[:60]!r}")
        ascii = rendered_text.isascii()
        tk = self._tiktoken
        if tk is not None and self._tiktoken_takes(rendered_text, ascii):
            return self._tiktoken_encode(rendered_text)
        spm = self._spm
        if spm is not None and not self._stripped and self._template_only(rendered_text, ascii) \
                and (ascii or spm.accepts(rendered_text)):
            return spm.encode(rendered_text, first=True, special=True)
        return self._encode_pieces(rendered_text)

    def _tiktoken_encode(self, text: str) -> list[int]:
        """`tiktoken.encode(text, allowed_special="all")`, passing only the control tokens the text
        holds: tiktoken turns the allowed set into its own on every call, which costs more than finding
        them (no control token begins another here, so both scans find the same ones)."""
        present = set(self._split.findall(text))
        try:
            return self._tiktoken._core_bpe.encode(text, present)
        except UnicodeEncodeError:  # a lone surrogate: tiktoken's own fallback
            return self._tiktoken.encode(text, allowed_special=present)

    def _tiktoken_takes(self, text: str, ascii: bool) -> bool:
        """Can tiktoken encode the whole render in one call? Only the template's control tokens, no
        byte the vocabulary lacks, already NFC where the tokenizer normalizes. Non-ASCII text is
        encoded to UTF-8 once for all the byte checks (single-byte searches run at memchr speed)."""
        if ascii:
            return (self._others is None or not self._others.search(text)) \
                and not any(c in text for c in self._missing_ascii)
        data = text.encode("utf-8", "surrogatepass")
        if b"\xf4" in data and self._sentinels is not None and self._sentinels.search(text):
            return False
        if self._others is not None and self._others.search(text):
            return False
        if any(b in data for b in self._missing_bytes):
            return False
        return self._nfc is None or _is_nfc(text, data)

    def _template_only(self, text: str, ascii: bool) -> bool:
        """Are all control tokens in `text` the template's own: no sentinel, no other control token?"""
        return (ascii or self._sentinels is None or not _has_plane_16(text) or not self._sentinels.search(text)) \
            and (self._others is None or not self._others.search(text))

    def encode_conversation(self, render: Callable[..., str], messages: list, tools: list | None = None,
                            **template_kwargs: Any) -> list[int]:
        """Protect `messages` and `tools`, render them with `render(messages, tools=..., **kwargs)`
        (e.g. `ChatTemplate(...).render`), and encode the result with `encode_chat`."""
        rendered = render(self.protect(messages), tools=self.protect(tools), **template_kwargs)
        return self.encode_chat(rendered)

    def encode_text(self, text: str) -> list[int]:
        """Plain text alone, as at the start of an input: no control token is ever matched."""
        return self._encode_piece(text, first=True)

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=False)

    def token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self._tokenizer.id_to_token(token_id)

    def _encode_pieces(self, text: str) -> list[int]:
        ids: list[int] = []
        pos = 0
        control = self.control_tokens
        for m in self._split.finditer(text):
            if m.start() > pos:
                ids += self._encode_piece(self.restore(text[pos:m.start()]), first=pos == 0)
            token = m.group().strip() if self._stripped else m.group()
            ids.append(control[token])
            pos = m.end()
        if pos < len(text):
            ids += self._encode_piece(self.restore(text[pos:]), first=pos == 0)
        return ids

    def _encode_piece(self, text: str, first: bool) -> list[int]:
        if not text:
            return []
        spm = self._spm
        if spm is not None and spm.accepts(text):
            return spm.encode(text, first=first)
        tk = self._tiktoken
        if tk is not None and (self._unencodable is None or not self._unencodable.search(text)):
            if self._nfc is not None and not text.isascii() and not _is_nfc(text):
                text = self._nfc.normalize_str(text)
            return tk.encode_ordinary(text)
        tokenizer = self._tokenizer if first else self._later
        return tokenizer.encode(text, add_special_tokens=False).ids

    # --- stop ids --------------------------------------------------------------------------------

    def _stop_ids(self, generation_config: dict) -> list[int]:
        ids: set[int] = set()
        if self.eos_token is not None and self._tokenizer.token_to_id(self.eos_token) is not None:
            ids.add(self._tokenizer.token_to_id(self.eos_token))
        eos = generation_config.get("eos_token_id")
        ids.update(eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else [])
        for token in _END_TOKENS:
            if token in self._special:
                ids.add(self.control_tokens[token])
        return sorted(ids)

    # --- the tiktoken fast path ------------------------------------------------------------------

    def _build_tiktoken(self, tokenizer: Any, pre_tokenizer: dict | None, normalizer: dict | None, n_added: int):
        """A tiktoken Encoding equal to this byte-level BPE tokenizer, or None if it is not one."""
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
        if not (_trivial_normalizer(normalizer) or normalizer.get("type") == "NFC"):
            return None
        if len(self.control_tokens) != n_added or self._stripped:
            return None  # non-control added tokens would have to be matched inside data
        # tiktoken matches special tokens leftmost-first, tokenizers leftmost-longest: the same unless a
        # control token begins another one.
        texts = sorted(self._control_list)
        if any(b.startswith(a) for a, b in itertools.pairwise(texts)):
            return None
        u2b = {c: b for b, c in _bytes_to_unicode().items()}
        ranks = {}
        for token, token_id in tokenizer.get_vocab(with_added_tokens=False).items():
            if token in self.added_tokens:
                continue
            try:
                ranks[bytes([u2b[c] for c in token])] = token_id
            except KeyError:
                return None  # not a byte-level vocabulary
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if any(0x80 <= b < 0xC0 for b in missing):
            return None
        self._unencodable = _unencodable_chars(missing)
        self._missing_bytes = tuple(bytes([b]) for b in missing)
        self._missing_ascii = tuple(chr(b) for b in missing if b < 0x80)
        if normalizer and normalizer.get("type") == "NFC":
            from tokenizers.normalizers import NFC

            self._nfc = NFC()
        try:
            return tiktoken.Encoding(f"polyprompt:{self.path or id(self)}", pat_str=pattern + _gaps(pattern),
                                     mergeable_ranks=ranks, special_tokens=dict(self._template_tokens))
        except ValueError:  # a regex tiktoken's engine does not take
            return None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str:
    return _digest(path.read_bytes())


def _state(component: Any) -> dict | None:
    """A tokenizers component (normalizer, pre-tokenizer) as its tokenizer.json dict."""
    if component is None:
        return None
    return json.loads(component.__getstate__())


def _make_json_text() -> Callable[[Any], str]:
    """`json.dumps(value, ensure_ascii=False)` without building an encoder per call (json.dumps does,
    for any non-default option: half of protect()'s time on a short conversation)."""
    from json.encoder import c_make_encoder, encode_basestring

    if c_make_encoder is None:  # not CPython's _json
        return lambda value: json.dumps(value, ensure_ascii=False)
    default = json.JSONEncoder().default
    encode = c_make_encoder(None, default, encode_basestring, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encode(value, 0))


_json_text = _make_json_text()


def _has_plane_16(text: str) -> bool:
    """Does `text` hold a character of plane 16 (where the sentinels are)? Their UTF-8 starts with
    the byte F4, and a byte search is faster than a regex over the characters."""
    return b"\xf4" in text.encode("utf-8", "surrogatepass")


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


def _templates(value: Any) -> dict[str, str]:
    """tokenizer_config's chat_template: a string, or a list of {name, template}."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, dict):
        return dict(value)
    return {item["name"]: item["template"] for item in value}


def _never_prepend(pre_tokenizer: Any) -> dict | None:
    """The pre-tokenizer with Metaspace's prepend_scheme "first" turned to "never"; None if it has none."""
    if not pre_tokenizer:
        return None
    if pre_tokenizer.get("type") == "Metaspace" and pre_tokenizer.get("prepend_scheme") == "first":
        return dict(pre_tokenizer, prepend_scheme="never")
    if pre_tokenizer.get("type") == "Sequence":
        changed = [_never_prepend(p) for p in pre_tokenizer["pretokenizers"]]
        if any(c is not None for c in changed):
            return dict(pre_tokenizer, pretokenizers=[c if c is not None else p
                                                      for c, p in zip(changed, pre_tokenizer["pretokenizers"])])
    return None


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
