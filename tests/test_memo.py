"""compiler/memo.py: once per object and key, never a stale result for a new object."""
from __future__ import annotations

from polyprompt.compiler.memo import by_identity


class Box:
    def __init__(self, value):
        self.value = value


def test_computed_once_per_object_and_key():
    calls = []

    @by_identity
    def double(box, key):
        calls.append((box, key))
        return {"v": box.value * key}

    a, b = Box(1), Box(1)
    assert double(a, 2) is double(a, 2)
    assert double(a, 3)["v"] == 3 and double(b, 2)["v"] == 2
    assert len(calls) == 3


def test_a_full_cache_starts_again():
    cached = by_identity(lambda box, key: box.value, limit=2)
    boxes = [Box(i) for i in range(5)]
    assert [cached(b, None) for b in boxes] == [0, 1, 2, 3, 4]
    assert len(cached.cache) <= 2
