"""Fuzzing the front end: no input may raise, every span must be valid.

Seeded, so a failure reproduces: truncations, deletions and byte mutations of
every example and stdlib file, plus random token soups up to 1 MB.
"""
from __future__ import annotations

import random

import pytest

from polyprompt import backends
from polyprompt.compiler.check import check_program
from polyprompt.compiler.diagnostics import Sink, render
from polyprompt.compiler.loader import load_text

from helpers import prompt_files

FILES = prompt_files()
MUTATIONS_PER_FILE = 40
ALPHABET = ['"', '"""', "{", "}", "{{", "}}", "{%", "%}", "{#", "#}", "(", ")", "[", "]", "\n", " ", "\\", "//",
            "|", ":", "=", "?", ",", ".", "->", "é", "\t", "\x00", "\r", "if", "end", "for", "in", "prompt", "user",
            "type", "enum", "import", "x", "0", "-1.5e3", "'", "%", "#"]
TOKENS = ["prompt", "p", "(", ")", "{", "}", "user", '"hi {{ x }}"', "type", "T", "x", ":", "str", ",", "enum",
          "import", "std.output", '"""\n  text {% if a %}b{% end %}\n  """', "for", "in", "if", "else", "model",
          "[", "]", "=", "test", "dataset", "from", '"d.jsonl"', "->", "|", "json", "history", "cache", "\n", "  ",
          "// c\n", "tool", "fragment", "use", "target", '"x"', "10%", "split", "expect", "==", "and", "not"]


def assert_sane(text: str) -> None:
    sink = Sink()
    program = load_text(text, sink, "fuzz.prompt")
    check_program(program, sink, backends.catalog())
    for d in sink.sorted():
        if d.span.file.path != "fuzz.prompt":
            continue
        assert 0 <= d.span.start <= d.span.end <= len(text), (d, len(text))
        line, col = d.span.start_line_col
        assert line >= 1 and col >= 1
        first = render(d).split("\n", 1)[0]
        assert first.startswith(f"fuzz.prompt:{line}:{col}: {d.severity}[{d.code}]")


def mutants(text: str, rng: random.Random):
    for _ in range(MUTATIONS_PER_FILE):
        kind = rng.randrange(4)
        i = rng.randrange(len(text) + 1)
        if kind == 0:
            yield text[:i]
        elif kind == 1:
            j = min(len(text), i + rng.randrange(1, 40))
            yield text[:i] + text[j:]
        elif kind == 2:
            yield text[:i] + rng.choice(ALPHABET) + text[i + 1:]
        else:
            yield text[:i] + rng.choice(ALPHABET) + text[i:]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_mutations_of_real_files(path):
    rng = random.Random(path.name)
    text = path.read_text(encoding="utf-8")
    for mutant in mutants(text, rng):
        assert_sane(mutant)


@pytest.mark.parametrize("seed", range(30))
def test_random_small_files(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(TOKENS + ALPHABET) + rng.choice([" ", "", "\n"]) for _ in range(rng.randrange(1, 300)))
    assert_sane(text)


@pytest.mark.parametrize("seed", range(2))
def test_random_large_files(seed):
    """Up to 1 MB: a long valid-looking file with damage spread through it."""
    rng = random.Random(1000 + seed)
    parts, size = [], 0
    while size < 1_000_000:
        n = rng.randrange(10_000)
        chunk = (f'type T{n} {{ a: str, b: list[int]? }}\n'
                 f'prompt p{n}(x: str) {{\n  user """\n    {{{{ x }}}} line {n}\n    """\n}}\n')
        if rng.random() < 0.05:
            chunk = chunk.replace("{", rng.choice(["", "{{", "("]), 1)
        parts.append(chunk)
        size += len(chunk)
    assert_sane("".join(parts)[:1_000_000])


def test_binary_garbage():
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(20_000)).decode("latin-1")
    assert_sane(data)
