"""Results computed once per object: for values of a compiled prompt that every render repeats.

`by_identity(function)` caches `function(obj, key)` per (the object itself, key). For objects that
are the same on every render and never change (a compiled prompt's output type) but cannot be
hashed (attrs classes holding dicts). The cache keeps each object alive with its result, so an
id is never reused while it is in the cache, and is emptied when it grows past `limit`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

R = TypeVar("R")


def by_identity(function: Callable[[Any, Any], R], limit: int = 1024) -> Callable[[Any, Any], R]:
    """`function(obj, key)`, computed once per object and (hashable) key."""
    cache: dict[tuple[int, Any], tuple[Any, R]] = {}

    @functools.wraps(function)
    def cached(obj: Any, key: Any) -> R:
        found = cache.get((id(obj), key))
        if found is not None and found[0] is obj:
            return found[1]
        if len(cache) >= limit:
            cache.clear()
        value = function(obj, key)
        cache[(id(obj), key)] = (obj, value)
        return value

    cached.cache = cache  # type: ignore[attr-defined]  # for tests
    return cached
