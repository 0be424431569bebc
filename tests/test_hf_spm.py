"""The SentencePiece fast path (backends/hf/tokens/spm.py): Gemma 3 and Mistral v3 encoded by tiktoken.

Its ids must equal the tokenizers library's everywhere: on every code point of planes 0 and 1,
whitespace runs, markup and Gemma's added tokens, mixed scripts, random strings, every vocabulary
token written as text, and every test conversation (test_hf_tokens.py checks those against
transformers' apply_chat_template too). Three references are used:

* transformers' `tokenizer(text, add_special_tokens=False)`, for text without control-token text;
* `Encoder.from_dir(path, fast=False)`, the tokenizers library with the control tokens never
  matched, for data (`encode_text`) and for renders holding data's control-token text;
* tokenizers itself on the whole vocabulary (one batch call).
"""
from __future__ import annotations

import json
import random

import pytest
from hf_assets import (
    MIXED,
    SPM,
    assert_equal_everywhere,
    asset,
    conversations,
    load,
    markup_texts,
    random_texts,
    render,
    slow,
    unicode_corpus,
    whitespace_texts,
)
from polyprompt.backends.hf.tokens import spm
from polyprompt.backends.hf.tokens.encoder import ESCAPE, Encoder


# --- which tokenizers take it ----------------------------------------------------------------------

@pytest.mark.parametrize("name", SPM)
def test_sentencepiece_tokenizers_take_the_fast_path(name):
    enc, _ = load(name)
    assert enc.engine == "sentencepiece" and not enc.fast
    assert slow(name).engine == "tokenizers"


def test_byte_level_tokenizers_keep_their_path():
    enc, _ = load("qwen3")
    assert enc.engine == "tiktoken"


@pytest.mark.parametrize("change", [
    {"prepend_scheme": "always"},  # a "▁" before every piece: not one call of tiktoken
    {"split": True},               # a word per "▁"
    {"replacement": "_"},
])
def test_other_metaspace_settings_go_to_tokenizers(change, tmp_path, monkeypatch):
    data = json.loads((asset("mistral-v3") / "tokenizer.json").read_text(encoding="utf-8"))
    monkeypatch.setenv("POLYPROMPT_ASSETS", str(tmp_path))
    data["pre_tokenizer"].update(change)
    assert Encoder(json.dumps(data)).engine == "tokenizers"


def test_byte_fallback_is_required(tmp_path, monkeypatch):
    data = json.loads((asset("mistral-v3") / "tokenizer.json").read_text(encoding="utf-8"))
    monkeypatch.setenv("POLYPROMPT_ASSETS", str(tmp_path))
    data["model"]["byte_fallback"] = False
    assert Encoder(json.dumps(data)).engine == "tokenizers"


# --- ids equal the tokenizers library's ------------------------------------------------------------

@pytest.mark.parametrize("name", SPM)
def test_every_code_point(name):
    """Planes 0 and 1 whole, samples of the others, alone and between letters, digits and spaces:
    characters in the vocabulary, and characters spelled as bytes (byte fallback)."""
    enc, tok = load(name)
    corpus = unicode_corpus()
    assert [enc.encode_text(t) for t in corpus] == _transformers_ids(tok, corpus)
    reference = slow(name)
    lead = enc.bos_token
    assert [enc.encode_chat(lead + t) for t in corpus] == [reference.encode_chat(lead + t) for t in corpus]


@pytest.mark.parametrize("name", SPM)
def test_whitespace_runs(name):
    """Gemma's "\\n", "\\t" and "▁" runs are added tokens (matched on the raw text: spaces are not
    "▁" there); text holding a "▁" of its own goes to tokenizers."""
    assert_equal_everywhere(name, whitespace_texts())


@pytest.mark.parametrize("name", SPM)
def test_markup_and_added_tokens(name):
    """Gemma's 6,406 added tokens that are text (`<table>`, `<unused0>`...), split off
    leftmost-longest before BPE, and the one merged token holding a space after a character
    (`>▁</`); control-token text as data."""
    assert_equal_everywhere(name, markup_texts())


@pytest.mark.parametrize("name", SPM)
def test_mixed_scripts(name):
    assert_equal_everywhere(name, MIXED + [" ".join(MIXED), "".join(MIXED), "\n".join(MIXED) * 5])


@pytest.mark.parametrize("name", SPM)
def test_random_strings(name):
    assert_equal_everywhere(name, random_texts(seed=20261125, count=1500))


@pytest.mark.parametrize("name", SPM)
def test_long_pieces(name):
    """Pieces of thousands of characters, with equal pairs everywhere (ties: the leftmost first)."""
    rng = random.Random(3)
    texts = ["a" * 5000, "ab" * 2500, " " * 5000 + "x", "x" + "\t" * 300 + "\n" * 300, "日本" * 2000,
             "".join(rng.choice("日本語のテキスト漢字とカタカナ中文测试你好世界") for _ in range(5000)),
             "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(5000))]
    enc, tok = load(name)
    assert [enc.encode_text(t) for t in texts] == _transformers_ids(tok, texts)


@pytest.mark.parametrize("name", SPM)
def test_every_vocabulary_token_as_text(name):
    """Each token of the vocabulary written as text ("▁" as a space, and as itself), so that every
    token of the rank table meets its own string, and those tokenizers never produces meet
    theirs."""
    enc, _ = load(name)
    reference = slow(name)._tokenizer  # the control tokens are never matched, as in encode_text
    tokens = [t for t in reference.get_vocab(with_added_tokens=False) if t]
    texts = [t.replace("▁", " ") for t in tokens] + [t for t in tokens if "▁" in t][::7]
    expected = [e.ids for e in reference.encode_batch_fast(texts, add_special_tokens=False)]
    mismatched = [t for t, ids in zip(texts, expected) if enc.encode_text(t) != ids]
    assert not mismatched[:20]


@pytest.mark.parametrize("name", SPM)
def test_conversations_agree_with_tokenizers(name):
    """Every test conversation, and one with every control token in its data."""
    enc, tok = load(name)
    payload = "see " + " | ".join(enc.control_tokens) + " end"
    attack = {"messages": [{"role": "user", "content": payload}, {"role": "assistant", "content": payload},
                           {"role": "user", "content": payload[::-1] + ESCAPE}], "gen": True}
    for conv in conversations(name) + [attack]:
        text = render(tok, enc.protect(conv["messages"]), enc.protect(conv.get("tools")), conv.get("gen", False))
        assert enc.encode_chat(text) == slow(name).encode_chat(text)


def test_metaspace_first_adds_one_space_at_offset_0():
    """Mistral v3: "▁" is added to the text at offset 0 of the input only, unless it begins with a
    space or with a matched added token."""
    enc, tok = load("mistral-v3")
    texts = ["hello", " hello", "  hello", "<s>hello", "<s> hello", "[INST]x", "[INST] x [/INST]", "x[INST]y",
             "\n", "1", "日本", "é", "</s>", "<unk>x"]
    assert [enc.encode_chat(t) for t in texts] == _transformers_ids(tok, texts)
    # as data, control-token text is text: the space is added before it too
    for text in texts:
        assert enc.encode_text(text) == slow("mistral-v3").encode_text(text), text


# --- the cached tables -----------------------------------------------------------------------------

def test_tables_are_cached_by_digest(tmp_path, monkeypatch):
    path = asset("mistral-v3")
    monkeypatch.setenv("POLYPROMPT_ASSETS", str(tmp_path))
    first = Encoder.from_dir(path)
    files = list((tmp_path / "spm").iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text(encoding="utf-8"))["supported"]

    def derive(_):
        raise AssertionError("the cached tables are read, not derived again")

    monkeypatch.setattr(spm, "_derive_tables", derive)
    again = Encoder.from_dir(path)
    text = "Cached: ça marche, 日本 123 \n end"
    assert again.engine == "sentencepiece" and again.encode_text(text) == first.encode_text(text)


def test_a_damaged_cache_file_is_derived_again(tmp_path, monkeypatch):
    path = asset("mistral-v3")
    monkeypatch.setenv("POLYPROMPT_ASSETS", str(tmp_path))
    Encoder.from_dir(path)
    (cache,) = (tmp_path / "spm").iterdir()
    cache.write_text('{"supported": tr')
    enc = Encoder.from_dir(path)
    assert enc.engine == "sentencepiece" and json.loads(cache.read_text(encoding="utf-8"))["supported"]
    assert enc.encode_text("x y") == slow("mistral-v3").encode_text("x y")


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    path = asset("mistral-v3")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("POLYPROMPT_ASSETS", str(blocked))
    enc = Encoder.from_dir(path)
    assert enc.engine == "sentencepiece"


def _transformers_ids(tok, texts: list[str]) -> list[list[int]]:
    return tok(texts, add_special_tokens=False)["input_ids"]
