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

The engines (`Encoder.engine`), each in its own module with its proof in the tests: a byte-level BPE
tokenizer (Qwen3, SmolLM2, Llama 3, DeepSeek-V3, Mistral Tekken) is also built as a tiktoken
encoding (byte_level.py); a SentencePiece-style BPE tokenizer with byte fallback (Gemma 3, Mistral v3)
as one with remapped ranks (spm.py); with `bulk=True`, any tokenizer fastokens takes is run by it
(bulk.py: slower to load, several times faster to encode). Their ids equal the tokenizers library's
on every test conversation and on a corpus with every Unicode code point (tests/test_hf_tokens.py,
test_hf_spm.py, test_hf_bulk.py). Any tokenizer no engine takes is encoded by `tokenizers`.
"""
from __future__ import annotations

import functools
import hashlib
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

class UnsupportedTokenizer(ValueError):
    """The tokenizer uses a feature whose effect on split text this module does not reproduce."""


def _content(token: Any) -> str | None:
    """A token as written in tokenizer_config.json: a string or an AddedToken dict."""
    if isinstance(token, dict):
        return token.get("content")
    return token if isinstance(token, str) else None


def _trivial_normalizer(normalizer: Any) -> bool:
    return normalizer is None or (normalizer.get("type") == "Sequence" and not normalizer.get("normalizers"))


class Encoder:
    """Encodes chats rendered from protected inputs; see the module docstring.

    Attributes: `chat_template` (the default template source, or None), `chat_templates` (name ->
    source), `bos_token`, `eos_token`, `control_tokens` (content -> id), `stop_ids`, `fast` (True when
    tiktoken encodes a byte-level BPE), `engine` ("fastokens" with `bulk=True`, "tiktoken",
    "sentencepiece": tiktoken with the tables of spm.py, or "tokenizers"), `path`.
    """

    def __init__(self, tokenizer: Any, config: dict | None = None, generation_config: dict | None = None,
                 chat_template: str | dict[str, str] | list | None = None, *, fast: bool = True,
                 bulk: bool = False, path: Path | None = None, tokenizer_file: Path | None = None):
        """`tokenizer`: a `tokenizers.Tokenizer` (it is changed: control tokens become special), or the
        text of a tokenizer.json. Use `from_dir` to load a folder. `tokenizer_file`: the tokenizer.json
        `tokenizer` was read from; a digest of it keys the SentencePiece fast path's cached tables.
        `fast=False`: the tokenizers library only (the reference of the tests). `bulk=True`: many
        conversations will be encoded: load the fastest engine (bulk.py, fastokens) when it takes this
        tokenizer, which costs 0.2-2.2 s more than the default engines."""
        from tokenizers import AddedToken, Tokenizer

        cache_key = None
        source: str | Path | None = None  # the tokenizer.json as loaded, for the bulk engine
        if isinstance(tokenizer, (str, bytes)):
            text = tokenizer if isinstance(tokenizer, str) else tokenizer.decode()
            cache_key = functools.partial(_digest, text.encode())
            tokenizer = Tokenizer.from_str(text)
            source = text
        elif tokenizer_file is not None:
            cache_key = functools.partial(_file_digest, tokenizer_file)
            source = tokenizer_file
        if bulk and fast and source is None:
            source = tokenizer.to_str()
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
        made_special = [AddedToken(t.content, special=True, normalized=t.normalized, lstrip=t.lstrip, rstrip=t.rstrip)
                        for _, t in control if not t.special]
        tokenizer.add_special_tokens(made_special)
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
        #: a piece of text encodes to the same tokens wherever it starts: byte-level BPE that adds no
        #: prefix space, normalized by NFC at most (no Metaspace nor Prepend "▁" at the input's start)
        self.context_free = _context_free(normalizer, pre_tokenizer)
        self._tiktoken = None
        self._spm = None
        self._bulk = None
        if fast and bulk:
            assert source is not None  # the tokenizer's JSON text when no file or text was given (above)
            self._bulk = self._build_bulk(source, made_special)
        # tiktoken for a byte-level BPE, when no added token would have to be matched inside data
        if fast and self._bulk is None and len(control) == len(added) and not self._stripped:
            from .byte_level import ByteLevelBPE

            self._tiktoken = ByteLevelBPE.build(tokenizer, pre_tokenizer, normalizer, self._control_list,
                                                self._template_tokens, self._split, str(self.path or id(self)))
        if fast and self._bulk is None and self._tiktoken is None:
            from .spm import SentencePieceBPE

            self._spm = SentencePieceBPE.build(tokenizer, added, self.control_tokens, self._template_tokens, cache_key)
        self.fast = self._tiktoken is not None
        self.engine = ("fastokens" if self._bulk is not None else "tiktoken" if self.fast
                       else "sentencepiece" if self._spm is not None else "tokenizers")

    # --- loading ---------------------------------------------------------------------------------

    @classmethod
    def from_dir(cls, path: str | Path, *, fast: bool = True, bulk: bool = False) -> Encoder:
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
        return cls(tokenizer, config, generation, template, fast=fast, bulk=bulk, path=path,
                   tokenizer_file=path / "tokenizer.json")

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
        if type(value) is list:
            flat = self._flat_text(value)
            if flat is not None:  # messages of plain strings: one look at their text joined
                return value if self._protect_str(flat) == flat else self._protect_deep(value)
        if self._json_check:
            # One C-speed look at the whole value first: most inputs hold nothing to protect.
            try:
                text = _json_text(value)
            except (TypeError, ValueError, RecursionError):
                text = None
            if text is not None and not self._trie.search(text) and (text.isascii() or not _has_plane_16(text)):
                return value
        return self._protect_deep(value)

    def holds_control_text(self, text: str) -> bool:
        """Does `text` hold what `protect` hides (control-token text, or a sentinel character)?"""
        return self._protect_str(text) != text

    def control_texts(self, text: str) -> list[str]:
        """What `protect` hides in `text`, in order: control-token texts (and sentinel-range characters)."""
        return self._danger.findall(text) if self._protect_str(text) != text else []

    @staticmethod
    def _flat_text(messages: list) -> str | None:
        """The keys and string values of a list of flat dicts (messages whose values are strings,
        numbers, booleans or None) joined by a newline, or None when an item is not such a dict.

        Control-token text or a plane-16 character inside one string is inside the joined text, so
        when the joined text holds none, no string holds one (a joined text that holds one only
        across a newline is a false alarm: `_protect_deep` then looks at each string)."""
        parts: list[str] = []
        for message in messages:
            if type(message) is not dict:
                return None
            for key, item in message.items():
                if type(key) is not str:
                    return None
                parts.append(key)
                if type(item) is str:
                    parts.append(item)
                elif item is not None and type(item) not in (int, float, bool):
                    return None
        return "\n".join(parts)

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
        text = rendered_text
        data = None if text.isascii() else text.encode("utf-8", "surrogatepass")
        # no sentinel: the render holds no control-token text of data (sentinels start with byte F4)
        plain = data is None or self._sentinels is None or b"\xf4" not in data or not self._sentinels.search(text)
        if plain and self._bulk is not None:
            ids = self._bulk.encode_render(text)
            if ids is not None:
                return ids
        if plain and (self._others is None or not self._others.search(text)):  # the template's tokens only
            tk = self._tiktoken
            if tk is not None and tk.takes(text, data):
                return tk.encode_render(text)
            spm = self._spm
            if spm is not None and not self._stripped and (data is None or spm.accepts(text)):
                return spm.encode(text, first=True, special=True)
        return self._encode_pieces(text)

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
        """The text of `ids`, control tokens included."""
        return self._tokenizer.decode(ids, skip_special_tokens=False)

    def token_to_id(self, token: str) -> int | None:
        """The id of a token's text, or None when the vocabulary lacks it."""
        return self._tokenizer.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        """The text of a token id, or None when out of range."""
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
        if self._bulk is not None:
            ids = self._bulk.encode_data(text, first)
            if ids is not None:
                return ids
        spm = self._spm
        if spm is not None and spm.accepts(text):
            return spm.encode(text, first=first)
        if self._tiktoken is not None:
            ids = self._tiktoken.encode_data(text)
            if ids is not None:
                return ids
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

    # --- the bulk engine -------------------------------------------------------------------------

    def _build_bulk(self, source: str | Path, made_special: list) -> Any:
        """The fastokens engine (bulk.py), if it takes this tokenizer and agrees with tokenizers on a
        probe of the template's control tokens between hard texts; else None."""
        from .bulk import BulkEngine

        engine = BulkEngine.build(source, made_special, list(self._template_tokens))
        if engine is None:
            return None
        for text in _probe_texts(list(self._template_tokens)):
            ours = engine.encode_render(text)
            if ours is not None and ours != self._encode_pieces(text):
                return None
            data = engine.encode_data(text, first=True)
            if data is not None and data != self._encode_piece(text, first=True):
                return None
        return engine

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
    from json.encoder import encode_basestring

    try:  # json.encoder's c_make_encoder
        from _json import make_encoder
    except ImportError:  # not CPython's _json
        return lambda value: json.dumps(value, ensure_ascii=False)
    default = json.JSONEncoder().default
    encode = make_encoder(None, default, encode_basestring, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encode(value, 0))


_json_text = _make_json_text()


def _has_plane_16(text: str) -> bool:
    """Does `text` hold a character of plane 16 (where the sentinels are)? Their UTF-8 starts with
    the byte F4, and a byte search is faster than a regex over the characters."""
    return b"\xf4" in text.encode("utf-8", "surrogatepass")


def _templates(value: Any) -> dict[str, str]:
    """tokenizer_config's chat_template: a string, or a list of {name, template}."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, dict):
        return dict(value)
    return {item["name"]: item["template"] for item in value}


def _context_free(normalizer: dict | None, pre_tokenizer: dict | None) -> bool:
    """Whether text encodes the same at the input's start as after other text: a ByteLevel
    pre-tokenizer without `add_prefix_space`, no Metaspace, no normalizer but NFC."""
    if not (_trivial_normalizer(normalizer) or (normalizer or {}).get("type") == "NFC") or not pre_tokenizer:
        return False
    parts = pre_tokenizer.get("pretokenizers", []) if pre_tokenizer.get("type") == "Sequence" else [pre_tokenizer]
    levels = [p for p in parts if p.get("type") == "ByteLevel"]
    return bool(levels) and not any(p.get("add_prefix_space") for p in levels) and all(
        p.get("type") in ("ByteLevel", "Split", "Digits") for p in parts)


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


# Text for the bulk engine's check: scripts, combining marks (NFC), emoji, digits, whitespace runs,
# markup, "▁", control characters, and the look-alikes of control tokens.
_PROBE = ("Hello, world! naïve café e\u0301 Å ﬁ ① 日本語のテキスト 中文 한국어 Ελληνικά Русский العربية हिन्दी "
          "ภาษาไทย 😀👍🏽👩‍👩‍👧‍👦🇫🇷 3.14159 1234567 ١٢٣ ½ \n\n\t  x   \r\n \u3000\u00a0▁▁a ▁ "
          "<table><tr><td>1</td></tr></table> [INST <|im_end <｜User \x00\x04\x1b[0m\x7f\u2028 "
          "def f(x):\n    return {'a': [1, 2]}  # ok\n\n\n")


def _probe_texts(control: list[str]) -> list[str]:
    """Probe texts: the text alone, after each control token (up to 64 of them), with spaces around."""
    return [_PROBE, " " + _PROBE, "".join(c + _PROBE for c in control[:64]), " ".join(c for c in control[:64])]
