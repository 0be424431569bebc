"""The duplicate check of a build (dataset/seen.py): exact, and its memory does not grow with the lines."""
from __future__ import annotations

import random
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from polyprompt.dataset import seen as seen_module
from polyprompt.dataset.seen import SeenLines


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=400))
def test_same_answers_as_a_set(texts):
    """`add` is True exactly for the first time a text comes, across table growth."""
    known: set[str] = set()
    with SeenLines() as seen:
        for text in texts:
            assert seen.add(text) == (text not in known)
            known.add(text)
        assert len(seen) == len(known)


def answers_as_a_set(seen: SeenLines, texts: list[str]) -> set[str]:
    """Add each text, checking `add` says new exactly when a set has not seen it; the set."""
    known: set[str] = set()
    for text in texts:
        assert seen.add(text) == (text not in known)
        known.add(text)
    return known


def test_many_lines_with_duplicates_and_growth():
    """100k lines (a third repeated): the table doubles many times and still answers exactly."""
    rng = random.Random(3)
    texts = [f"line {rng.randrange(70_000)}" for _ in range(100_000)]
    with SeenLines() as seen:
        known = answers_as_a_set(seen, texts)
        assert len(seen) == len(known) and len(seen.fill) >= len(known) // seen_module.SLOTS


def test_a_full_bucket_splits(monkeypatch):
    """A bucket that fills before the table is half full splits the table (nothing is lost)."""
    monkeypatch.setattr(seen_module, "SLOTS", 8)
    monkeypatch.setattr(seen_module, "BUCKET", 64)
    texts = [str(i) for i in range(2000)]
    with SeenLines() as seen:
        assert all(seen.add(t) for t in texts)
        assert not any(seen.add(t) for t in texts)


def test_memory_does_not_grow_with_the_lines():
    """The hashes live on disk: 100k more lines cost the process less than 64 KiB of memory (8 bytes a
    line in memory would be 800 kB)."""
    with SeenLines() as seen:
        for i in range(20_000):
            seen.add(f"warm {i}")
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(100_000):
                seen.add(f"line {i}")
            grown = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
    assert grown < 64 * 1024, grown


def test_the_blake2b_fallback_answers_the_same(monkeypatch):
    """Where the str hash is not a 64-bit SipHash the lines' BLAKE2b is the key: the same answers."""
    monkeypatch.setattr(seen_module, "_hash", seen_module._blake2b)
    rng = random.Random(4)
    texts = [f"line {rng.randrange(3_000)}" for _ in range(10_000)]
    with SeenLines() as seen:
        answers_as_a_set(seen, texts)
