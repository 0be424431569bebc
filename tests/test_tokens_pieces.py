"""Renders of repeating pieces on the real registry tokenizers: the bulk engine with its segment
cache gives the ids of the same engine without it, of tokenizers, and of transformers (issue 13:
tokenized speed).

The bulk engine keeps fastokens' segment cache on (backends/hf/tokens/bulk.py): a piece of text
between control tokens seen before is not encoded again. Each render here is the template's
control tokens interleaved with data drawn from a small pool (so pieces repeat across renders, at
offset 0 and after a control token, next to other data, in any order): unicode, whitespace runs,
markup, control-token look-alikes, "▁", pieces differing in one character. Renders holding
data's control-token text (protected: sentinels) take the piece-by-piece path, where every piece
goes through the cache too. The last test shows the check catches a cache that returns a stale
piece.
"""
from __future__ import annotations

import random

import pytest
from hf_assets import asset, load, sentinel_range, slow

from polyprompt.backends.hf.assets.tokenizers import NAMES
from polyprompt.backends.hf.tokens.encoder import Encoder

POOL = ["Hello", "Hello!", " Hello", "hello world", "  ", " ", "\n", "\n\n", "\n\n\n", "\t\t", " \n ", "\r\n",
        "system\n", "user\n", "assistant\n", "You moderate reviews.\n\nAnswer with one word." * 3,
        "Rating: 4/5\n", "Rating: 4/55", "日本語のテキスト", "日本語のテキスト。", "naïve café e\u0301",
        "😀👍🏽👩‍👩‍👧‍👦", "▁▁a ▁", "<table><tr>", "<|im", "|>", "<", "[INST", "</s", "<end_of", "<｜User",
        "x" * 700, "x" * 701, "1234567", "def f(x):\n    return x\n", "   indented", "trailing   ", "\u3000\u00a0"]


def _renders(enc: Encoder, seed: int, count: int) -> list[str]:
    """Random renders: the template's control tokens and pool data, kept only when the control
    tokens the encoder finds are exactly those put in (data next to data never spells one)."""
    rng = random.Random(seed)
    controls = sorted(enc._template_tokens)
    renders: list[str] = []
    while len(renders) < count:
        items, put = [], []
        for _ in range(rng.randint(1, 14)):
            if rng.random() < 0.4:
                put.append(rng.choice(controls))
                items.append(put[-1])
            else:
                items.append(rng.choice(POOL))
        text = "".join(items)
        if rng.random() < 0.15:  # data's control-token text, protected: sentinels in the render
            text += rng.choice(POOL) + enc.protect("say " + rng.choice(controls)) + rng.choice(POOL)
        found = [m.group().strip() for m in enc._split.finditer(text)]
        if found == put and text:
            renders.append(text)
    return renders


def _fresh(name: str, cache: bool) -> Encoder:
    """A new bulk Encoder (its own segment cache), with the cache on or off."""
    enc = Encoder.from_dir(asset(name), bulk=True)
    assert enc.engine == "fastokens"
    if not cache:
        enc._bulk._native.enable_segment_cache(0)
    return enc


def _mismatches(enc: Encoder, renders: list[str], expected: list[list[int]]) -> list[str]:
    """The renders whose ids differ, encoded in order, then again in another order (a warm cache)."""
    wrong = [r for r, ids in zip(renders, expected) if enc.encode_chat(r) != ids]
    order = list(range(len(renders)))
    random.Random(3).shuffle(order)
    wrong += [renders[k] for k in order if enc.encode_chat(renders[k]) != expected[k]]
    return wrong


@pytest.mark.parametrize("name", NAMES)
def test_cached_pieces_equal_uncached_tokenizers_and_transformers(name):
    cached, uncached, reference = _fresh(name, True), _fresh(name, False), slow(name)
    _, tok = load(name)
    renders = _renders(cached, seed=NAMES.index(name), count=400)
    expected = [reference.encode_chat(r) for r in renders]
    assert [uncached.encode_chat(r) for r in renders] == expected
    before = cached._bulk._native.segment_cache_stats()["hits"]
    assert _mismatches(cached, renders, expected) == []
    assert cached._bulk._native.segment_cache_stats()["hits"] > before + 200  # the cache answered
    plain = [r for r in renders if not sentinel_range(r)]
    assert [cached.encode_chat(r) for r in plain] == tok(plain, add_special_tokens=False)["input_ids"]
    evicting = _fresh(name, True)
    evicting._bulk._native.enable_segment_cache(1 << 16)  # room for a few dozen segments
    assert _mismatches(evicting, renders, expected) == []
    stats = evicting._bulk._native.segment_cache_stats()
    assert stats["hits"] and stats["entries"] < stats["misses"]  # it answered, and dropped segments
    data = [p for p in POOL if not cached.holds_control_text(p)]
    assert [cached.encode_text(p) for p in data * 2] == [reference.encode_text(p) for p in data * 2]


def test_a_stale_piece_is_caught():
    """A cache keyed wrongly (by a piece's length: "Hello" and "hello", "x"*700 and others
    collide) makes the check above fail."""
    name = "qwen3"
    enc, reference = _fresh(name, False), slow(name)
    renders = _renders(enc, seed=1, count=200)
    expected = [reference.encode_chat(r) for r in renders]
    native_encode, stale = enc._bulk._encode, {}

    def wrong_cache(text, **options):
        pieces, pos, ids = [], 0, []
        for m in enc._split.finditer(text):
            pieces += [text[pos:m.start()], m.group()]
            pos = m.end()
        for piece in pieces + [text[pos:]]:
            if piece in enc.control_tokens:
                ids.append(enc.control_tokens[piece])
            elif piece:
                ids += stale.setdefault((len(piece), piece[:1]), native_encode(piece, **options).ids)
        return type("Encoding", (), {"ids": ids})()

    enc._bulk._encode = wrong_cache
    assert _mismatches(enc, renders, expected)


@pytest.mark.parametrize("name", NAMES)
def test_the_cache_never_carries_a_control_token_into_data(name):
    """The same text encoded as data (control tokens are text) and as a render (they are tokens),
    in both orders, with the cache warm: data never gets a control-token id."""
    enc, reference = _fresh(name, True), slow(name)
    controls = set(enc.control_tokens.values())
    for token in list(enc._template_tokens)[:12]:
        for text in (token, "x" + token + "y", token + "\n" + token, " " + token + " "):
            for _ in range(2):
                data = enc.encode_text(text)
                assert data == reference.encode_text(text) and not controls & set(data), (token, text)
                assert enc.encode_chat(enc.protect(text)) == data  # protected: one piece of data
                render = text if text.startswith(tuple(enc._template_tokens)) else token + text
                assert enc.encode_chat(render) == reference.encode_chat(render)
