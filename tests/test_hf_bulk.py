"""The bulk engine (backends/hf/tokens/bulk.py): `Encoder(bulk=True)` encodes with fastokens.

Its ids must equal the tokenizers library's everywhere, as the other engines' do: on every code
point of planes 0 and 1, whitespace runs, markup and Gemma's added tokens, mixed scripts, random
strings, long pieces, and every test conversation (test_hf_tokens.py also runs its parity and
injection tests on this engine). References: transformers' tokenizer for text without
control-token text, and `Encoder(fast=False)` (tokenizers with the control tokens never matched)
for data and for renders holding data's control-token text. Also: what the engine refuses goes to
the exact path, and a tokenizer the engine gets wrong is never used.
"""
from __future__ import annotations

import json
import random

import pytest
from hf_assets import (
    MIXED,
    assert_equal_everywhere,
    asset,
    conversations,
    load,
    markup_texts,
    random_texts,
    render,
    sentinel_range,
    slow,
    unicode_corpus,
    whitespace_texts,
)
from polyprompt.backends.hf.tokens import bulk as bulk_module
from polyprompt.backends.hf.assets.tokenizers import NAMES
from polyprompt.backends.hf.tokens.encoder import ESCAPE, Encoder


@pytest.mark.parametrize("name", NAMES)
def test_every_registry_tokenizer_takes_the_bulk_engine(name):
    enc, _ = load(name, "bulk")
    assert enc.engine == "fastokens" and not enc.fast
    assert load(name)[0].engine in ("tiktoken", "sentencepiece")  # the default keeps loading fast


@pytest.mark.parametrize("name", NAMES)
def test_every_code_point(name):
    enc, tok = load(name, "bulk")
    corpus = unicode_corpus()
    assert [enc.encode_text(t) for t in corpus] == [slow(name).encode_text(t) for t in corpus]
    plain = [t for t in corpus if not sentinel_range(t)]
    assert [enc.encode_chat(t) for t in plain] == tok(plain, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("name", NAMES)
def test_whitespace_markup_and_mixed_scripts(name):
    assert_equal_everywhere(name, whitespace_texts() + markup_texts() + MIXED
                            + [" ".join(MIXED), "".join(MIXED), "\n".join(MIXED) * 5], "bulk")


@pytest.mark.parametrize("name", NAMES)
def test_random_strings(name):
    assert_equal_everywhere(name, random_texts(seed=11, count=400), "bulk")


@pytest.mark.parametrize("name", NAMES)
def test_long_pieces(name):
    rng = random.Random(5)
    texts = ["a" * 5000, " " * 5000 + "x", "x" + "\t" * 300 + "\n" * 300, "日本" * 2000,
             "".join(rng.choice("日本語のテキスト漢字とカタカナ中文测试你好世界") for _ in range(5000)),
             "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ ") for _ in range(5000))]
    enc, tok = load(name, "bulk")
    assert [enc.encode_text(t) for t in texts] == tok(texts, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("name", NAMES)
def test_conversations_agree_with_tokenizers(name):
    """Every test conversation, and one with every control token in its data (sentinels in the
    render: encoded piece by piece, each piece by the engine)."""
    enc, tok = load(name, "bulk")
    payload = "see " + " | ".join(enc.control_tokens) + " end"
    attack = {"messages": [{"role": "user", "content": payload}, {"role": "assistant", "content": payload},
                           {"role": "user", "content": payload[::-1] + ESCAPE}], "gen": True}
    for conv in conversations(name) + [attack]:
        text = render(tok, enc.protect(conv["messages"]), enc.protect(conv.get("tools")), conv.get("gen", False))
        assert enc.encode_chat(text) == slow(name).encode_chat(text), conv.get("id", "attack")


def test_a_byte_missing_from_the_vocabulary_goes_to_tokenizers():
    """SmolLM2's vocabulary (rebuilt from the GGUF) lacks \\x04: fastokens refuses the text, the
    Encoder encodes it with tokenizers, as transformers does (which drops the byte)."""
    enc, tok = load("smollm2", "bulk")
    text = "<|im_start|>user\na\x04b<|im_end|>\n"
    assert enc._bulk.encode_render(text) is None
    assert enc.encode_chat(text) == tok(text, add_special_tokens=False)["input_ids"]
    assert enc.encode_text("a\x04b") == slow("smollm2").encode_text("a\x04b")


def test_metaspace_render_not_starting_with_a_control_token_goes_to_tokenizers():
    """Mistral v3's "▁" at offset 0 only applies when the render starts with text: the engine
    leaves that render to the exact path, and adds the "▁" itself to data at offset 0."""
    enc, tok = load("mistral-v3", "bulk")
    assert enc._bulk.encode_render("Hello [INST] x") is None
    for text in ("Hello [INST] x", " Hello", "▁Hello", "<s>Hello", "<s> Hello"):
        assert enc.encode_chat(text) == tok(text, add_special_tokens=False)["input_ids"], text
    for text in ("Hello", " Hello", "▁Hello", "  two", "\nline"):
        assert enc.encode_text(text) == slow("mistral-v3").encode_text(text), text


def test_metaspace_rewrite_conditions():
    """The normalizer form is only used where it is the same as Metaspace."""
    meta = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    added = [{"content": "<s>", "special": True, "normalized": False}]
    base = {"normalizer": None, "pre_tokenizer": meta, "added_tokens": added}
    text, prepend = bulk_module._without_metaspace(base, set())
    assert prepend == "first" and json.loads(text)["pre_tokenizer"] is None
    assert json.loads(text)["normalizer"] == {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
    assert bulk_module._without_metaspace({**base, "pre_tokenizer": {**meta, "prepend_scheme": "never"}}, set())[1] is None
    refused = [
        {**base, "pre_tokenizer": {**meta, "split": True}},
        {**base, "pre_tokenizer": {**meta, "prepend_scheme": "always"}},
        {**base, "normalizer": {"type": "NFC"}},
        {**base, "added_tokens": [{"content": "<t>", "special": False, "normalized": False}]},
        {**base, "added_tokens": [{"content": "a b", "special": True, "normalized": True}]},
    ]
    for tokenizer in refused:
        assert bulk_module._without_metaspace(tokenizer, set()) == (None, None)
    made_special = {**base, "added_tokens": [{"content": "[REF]", "special": False, "normalized": False}]}
    assert bulk_module._without_metaspace(made_special, {"[REF]"})[1] == "first"


def test_an_engine_that_disagrees_is_never_used(monkeypatch):
    """The Encoder checks a new engine on probe texts against tokenizers: one that gets an id wrong
    is dropped, and the default engine is loaded instead."""
    folder = asset("qwen3")
    real = bulk_module.BulkEngine.encode_render

    def off_by_one(self, text):
        ids = real(self, text)
        return None if ids is None else ids[:-1] + [ids[-1] + 1] if ids else ids

    monkeypatch.setattr(bulk_module.BulkEngine, "encode_render", off_by_one)
    assert Encoder.from_dir(folder, bulk=True).engine == "tiktoken"


def test_without_fastokens_bulk_loads_the_default_engine(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_fastokens(name, *args, **kwargs):
        if name == "fastokens":
            raise ImportError("no fastokens")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fastokens)
    assert Encoder.from_dir(asset("qwen3"), bulk=True).engine == "tiktoken"


def test_a_tokenizer_the_engine_does_not_take_is_encoded_by_tokenizers():
    """A Metaspace that splits on "▁" (fastokens has no Metaspace, and the normalizer form needs
    "split": false): no bulk engine, and the ids are the tokenizers library's."""
    vocab = {c: i for i, c in enumerate(["<unk>", "<s>", "▁", "h", "e", "l", "o", "w", "r", "d"])}
    tokenizer = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [
        {"id": 1, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
         "special": True}],
        "normalizer": None, "post_processor": None, "decoder": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []}}
    from tokenizers import Tokenizer

    enc = Encoder(json.dumps(tokenizer), bulk=True)
    assert enc.engine == "tokenizers"
    reference = Tokenizer.from_str(json.dumps(tokenizer))
    for text in ("<s>hello world", "hello world", "<s> hello"):
        assert enc.encode_chat(text) == reference.encode(text, add_special_tokens=False).ids, text
    assert enc.encode_chat("hello") == [2, 3, 4, 5, 5, 6]  # "▁" at offset 0
