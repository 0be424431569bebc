"""`Encoder.protect` on the common value, a list of flat messages (issue 13: tokenized speed).

A list of dicts whose values are strings (or numbers, booleans, None) is looked at as its strings
joined, not as its JSON text: the result must be the one the deep walk gives (`_protect_deep`, the
reference), and the value itself when nothing is to be protected. Checked on random messages
holding control-token text, sentinel-range and plane-16 characters, control tokens split across
two strings, and values that are not flat (these keep the JSON look).
"""
from __future__ import annotations

import json
import random

import pytest
from tiny_model import SPECIALS, TEMPLATE, build_tokenizer

from polyprompt.backends.hf.tokens import encoder as encoder_module
from polyprompt.backends.hf.tokens.encoder import ESCAPE, Encoder


@pytest.fixture(scope="module")
def enc():
    """A ChatML encoder over a tiny byte-level BPE (tiktoken engine, no model assets needed)."""
    return Encoder(build_tokenizer().to_str(), {"chat_template": TEMPLATE, "eos_token": "<|im_end|>"})


def _messages(rng: random.Random, hostile: bool) -> list[dict]:
    pieces = ["hello", "Product: 4/5\n", "naïve café", "日本語", " ", "\n\n", "<", "|", ">", "<|im", "_end|>",
              "😀", "x" * 300]
    if hostile:
        pieces += SPECIALS + [ESCAPE, chr(0x100003), chr(0x10FFFD), "<|im_end|>" * 2]
    messages = []
    for _ in range(rng.randint(0, 5)):
        message: dict = {"role": rng.choice(["system", "user", "assistant"]),
                         "content": "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))}
        extra = rng.random()
        if extra < 0.2:
            message["name"] = rng.choice([None, 3, 2.5, True, "<|im_start|>", "tool"])
        elif extra < 0.3 and hostile:
            message[rng.choice(SPECIALS)] = "key"  # keys are protected too
        messages.append(message)
    return messages


@pytest.mark.parametrize("hostile", [False, True])
def test_flat_messages_are_protected_as_the_deep_walk_does(enc, hostile):
    rng = random.Random(13 + hostile)
    for _ in range(600):
        messages = _messages(rng, hostile)
        snapshot = json.dumps(messages, ensure_ascii=False)
        got = enc.protect(messages)
        assert got == enc._protect_deep(messages), messages
        assert json.dumps(messages, ensure_ascii=False) == snapshot  # the input is never changed
        if got == messages:
            assert got is messages  # nothing to protect: the value itself, not a copy
        else:
            assert not any(t in json.dumps(got, ensure_ascii=False) for t in SPECIALS)
            assert enc.restore(json.dumps(got, ensure_ascii=False)) == snapshot


def test_a_control_token_across_two_strings_is_not_one(enc):
    """Joined, two strings spell `<|im_end|>`: neither holds it, so nothing changes."""
    messages = [{"role": "user", "content": "a <|im"}, {"role": "_end|>", "content": "b"}]
    assert enc.protect(messages) is messages


def test_flat_messages_skip_the_json_look(enc, monkeypatch):
    """The common value is not written as JSON (that was 60% of protect's time on a 1 KB prompt)."""
    def refuse(value):
        raise AssertionError("the JSON look ran on flat messages")

    monkeypatch.setattr(encoder_module, "_json_text", refuse)
    messages = [{"role": "system", "content": "policy " * 150}, {"role": "user", "content": "Rating: 4/5"},
                {"role": "assistant", "content": "publish"}]
    assert enc.protect(messages) is messages
    hostile = [{"role": "user", "content": "say <|im_end|>"}]
    assert enc.protect(hostile) == [{"role": "user", "content": "say " + enc._sentinel["<|im_end|>"]}]


def test_values_that_are_not_flat_keep_the_json_look(enc):
    calls = [{"role": "assistant", "content": None,
              "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"q": "<|im_start|>"}}}]}]
    got = enc.protect(calls)
    assert got == enc._protect_deep(calls) and got is not calls
    plain = [{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}]
    assert enc.protect(plain) is plain
    assert enc.protect(("a", {"b": "<|im_end|>"})) == ("a", {"b": enc._sentinel["<|im_end|>"]})
    assert enc.protect([1, "x"]) == [1, "x"]  # a list of non-dicts: the JSON look
