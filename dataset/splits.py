"""Deterministic splits: a row's split depends on its content and the seed, nothing else.

`split_of(key, splits, seed)` hashes the row's canonical JSON with the seed (BLAKE2b) to a
number in [0, 1) and picks the split whose share of [0, 1) holds it: `validation 10%` takes
[0, 0.10), `test 5%` the next [0.10, 0.15), `train` the rest. So appending rows to a file, or
reordering it, never moves an old row to another split, and the same row always lands in the
same split on every machine.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

TRAIN = "train"


def row_key(row: Any) -> bytes:
    """The canonical bytes of a row: sorted keys, no spaces, UTF-8."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def fraction(key: bytes, seed: int) -> float:
    """A number in [0, 1) that depends only on `key` and `seed`."""
    salt = hashlib.blake2b(str(seed).encode(), digest_size=16).digest()  # any int seed, 16 bytes
    digest = hashlib.blake2b(key, digest_size=8, person=b"pp-split", salt=salt).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_of(key: bytes, splits: tuple[tuple[str, float], ...], seed: int = 0) -> str:
    """The split a row belongs to: one of `splits` (name, percent), else `train`."""
    if not splits:
        return TRAIN
    x, edge = fraction(key, seed) * 100, 0.0
    for name, percent in splits:
        edge += percent
        if x < edge:
            return name
    return TRAIN
