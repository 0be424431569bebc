"""A compact set of line hashes, for dropping exact duplicates.

A Python `set` of ints costs about 60 bytes a line; this keeps 8: the 64-bit hashes of the lines
are gathered in a small set, and merged, sorted, into one `array('Q')` whenever the set fills
(membership: the set, then a binary search of the array). Hashes are BLAKE2b of the line's text,
so two lines are taken for the same only when their 64-bit digests agree (about one false match
in 10^7 builds of a million lines).
"""
from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from heapq import merge

#: hashes gathered before a merge into the sorted array
BUFFER = 1 << 16


class SeenLines:
    """Which line texts were seen: `add(text)` is True for a new one."""

    def __init__(self) -> None:
        self.recent: set[int] = set()
        self.sorted = array("Q")

    def add(self, text: str) -> bool:
        """Record `text`; whether it was new."""
        key = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
        if key in self.recent or self._in_sorted(key):
            return False
        self.recent.add(key)
        if len(self.recent) >= BUFFER:
            self.sorted = array("Q", merge(self.sorted, sorted(self.recent)))
            self.recent = set()
        return True

    def _in_sorted(self, key: int) -> bool:
        i = bisect_left(self.sorted, key)
        return i < len(self.sorted) and self.sorted[i] == key

    def __len__(self) -> int:
        return len(self.recent) + len(self.sorted)
