"""Fuzzing what comes from outside besides `.prompt` files: inputs files and provider replies.

An inputs file gives its values or an InputError; a reply gives a Reply or a ReplyError; a model's
text gives the output value or a ReplyError. Nothing else may be raised, nothing may hang. Seeded,
so a failure reproduces: mutations of the real example inputs and of replies of every provider's
shape, random JSON and YAML made of hard pieces (aliases, deep nesting, surrogate escapes, BOMs).
"""
from __future__ import annotations

import json
import random

import pytest

import polyprompt
from polyprompt import backends
from polyprompt.compiler.inputs import InputError, read_inputs
from polyprompt.compiler.replies import ReplyError, parse_output

from helpers import EXAMPLES

PIECES = ['{', '}', '[', ']', '"', ':', ',', '\\ud800', '\\ude00', '\\ud83d\\ude00', '\\u0000', '&a', '*a', '- ', '\n',
          '  ', '\t', '#', 'null', 'true', '1e999', '-0', '"diff"', '"x"', '\ufeff', '\xff', '日本', '{{', '%', '!!python/object',
          '---', '...', '? ', '|', '>', "'", '0x1F', '~']
API_TARGETS = backends.names()  # every API target, from the registry


def _mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.choice((1, 2, 5))):
            i = rng.randrange(len(b) + 1)
            action = rng.random()
            if action < 0.3 and b:
                del b[i:i + rng.randrange(1, 20)]
            elif action < 0.6:
                b[i:i] = rng.choice(PIECES).encode("utf-8", "surrogatepass")
            elif b:
                b[min(i, len(b) - 1)] = rng.randrange(256)
        out.append(bytes(b))
    return out


def _soup(rng: random.Random) -> bytes:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 60))).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("seed", range(3))
def test_inputs_files_give_values_or_an_input_error(tmp_path, seed):
    rng = random.Random(seed)
    samples = [p.read_bytes() for p in sorted(EXAMPLES.glob("*.input.json"))]
    cases = [m for data in samples for m in _mutations(data, rng, 15)] + [_soup(rng) for _ in range(150)]
    cases += [b"a: &a [" + b"*a, " * 30 + b"]", b"[" * 3000, b"x: " + b"[" * 500 + b"]" * 500]
    path = tmp_path / "in.yaml"
    for data in cases:
        path.write_bytes(data)
        try:
            values = read_inputs(path)
        except InputError as err:
            assert str(err).startswith("invalid inputs:\n  ")
            continue
        assert isinstance(values, dict)
        json.dumps(values, ensure_ascii=False).encode("utf-8")  # Unicode text all through


@pytest.fixture(scope="module")
def compiled():
    pf = polyprompt.load(EXAMPLES / "ticket_triage.prompt")
    inputs = json.loads((EXAMPLES / "ticket_triage.input.json").read_text())
    return {t: pf.compile(t, inputs=inputs) for t in API_TARGETS}


def _reply_shapes() -> list:
    text = '{"category": "billing", "urgent": false}'
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    return [
        {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": text, "tool_calls": [call]}}]},
        {"output": [{"type": "message", "content": [{"type": "output_text", "text": text}]},
                    {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"}]},
        {"stop_reason": "end_turn", "content": [{"type": "text", "text": text},
                                                {"type": "tool_use", "id": "t", "name": "lookup", "input": {}}]},
        {"candidates": [{"finishReason": "STOP", "content": {"parts": [{"text": text},
                                                                       {"functionCall": {"name": "f", "args": {}}}]}}]},
        {"stopReason": "end_turn", "output": {"message": {"content": [{"text": text},
                                                                      {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]}}},
        {"message": {"role": "assistant", "content": text, "tool_calls": [{"function": {"name": "f", "arguments": {}}}]},
         "done_reason": "stop"},
    ] + [cls.sample_reply for cls in backends.api_targets().values()]  # a new target's shape too


def _mutate_value(value, rng: random.Random):
    """The same JSON with one node replaced by something of another kind."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        return {**value, key: _mutate_value(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        return value[:i] + [_mutate_value(value[i], rng)] + value[i + 1:]
    return rng.choice([None, 0, -1, 1.5, "", "x", "{", [], [None], {}, {"a": None}, True, "\ud800", [[[]]]])


@pytest.mark.parametrize("seed", range(2))
def test_replies_give_a_reply_or_a_reply_error(compiled, seed):
    rng = random.Random(seed)
    shapes = _reply_shapes()
    for target, result in compiled.items():
        for _ in range(60):
            reply = _mutate_value(rng.choice(shapes), rng)
            try:
                result.parse(reply)
            except ReplyError:
                pass


@pytest.mark.parametrize("seed", range(2))
def test_model_text_gives_a_value_or_a_reply_error(compiled, seed):
    rng = random.Random(seed)
    output = compiled["anthropic"].request.output
    good = '{"category": "billing", "urgent": false}'
    texts = [m.decode("utf-8", "replace") for m in _mutations(good.encode(), rng, 200)]
    texts += [_soup(rng).decode("utf-8", "surrogatepass") for _ in range(100)]
    texts += ["[" * 100_000, "x " + "{" * 30_000, "```json\n" + "[" * 5000 + "\n```"]
    for text in texts:
        for tolerant in (False, True):
            try:
                parse_output(text, output, tolerant=tolerant)
            except ReplyError:
                pass
