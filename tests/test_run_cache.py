"""The reply cache (run/cache.py): keys, hits and misses, private files, corrupt entries."""
from __future__ import annotations

import json
import os
import stat

import pytest

from polyprompt.run import cache as reply_cache
from polyprompt.run.cache import ReplyCache, key_of

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Label: great pan"}], "temperature": 0}
RESULT = {"value": "good", "text": '"good"', "raw": {"id": "chatcmpl-1"}, "usage": {"total_tokens": 9},
          "latency_ms": 412.5, "tool_calls": None}


def test_a_stored_reply_is_a_hit_and_anything_else_a_miss(tmp_path):
    cache = ReplyCache(tmp_path / "replies")
    key = key_of("openai-chat", BODY)
    assert cache.get(key) is None
    assert cache.put(key, {**RESULT, "parse_error": None, "extra": 1})
    assert cache.get(key) == RESULT
    assert cache.get(key_of("openai-chat", {**BODY, "temperature": 0.5})) is None
    assert (cache.hits, cache.misses, cache.stores) == (1, 2, 1)


def test_any_byte_of_the_body_the_target_or_an_endpoint_setting_changes_the_key():
    key = key_of("openai-chat", BODY)
    text = json.dumps(BODY)
    for i in range(len(text)):
        changed = text[:i] + ("x" if text[i] != "x" else "y") + text[i + 1:]
        try:
            body = json.loads(changed)
        except ValueError:
            continue
        if body != BODY:
            assert key_of("openai-chat", body) != key, changed
    assert key_of("openai-chat", dict(reversed(list(BODY.items())))) != key  # the bytes sent differ
    assert key_of("openai-compatible", BODY) != key
    assert key_of("openai-chat", BODY, {"base_url": "http://localhost:8000/v1"}) != key
    assert key_of("openai-chat", BODY, {"region": "a", "project": "b"}) == key_of("openai-chat", BODY,
                                                                                   {"project": "b", "region": "a"})
    # credentials never enter a key
    assert key_of("openai-chat", BODY, {"api_key": "sk-1", "Authorization": "Bearer x"}) == key


def test_entries_are_private_files(tmp_path):
    cache = ReplyCache(tmp_path / "replies")
    old = os.umask(0)
    try:
        key = key_of("anthropic", BODY)
        cache.put(key, RESULT)
    finally:
        os.umask(old)
    path = cache.path(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "replies").stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_corrupt_or_foreign_entry_is_a_miss(tmp_path):
    cache = ReplyCache(tmp_path / "replies")
    key = key_of("openai-chat", BODY)
    cache.put(key, RESULT)
    path = cache.path(key)
    good = path.read_bytes()
    for bad in (good[: len(good) // 2], b"", b"\x00\xff", b"[]", good.replace(b'"good"', b'"evil"', 1),
                good.replace(key.encode(), key_of("x", {}).encode()), b'{"format": 1}'):
        path.write_bytes(bad)
        assert cache.get(key) is None, bad
    path.write_bytes(good)
    assert cache.get(key) == RESULT
    os.chmod(path, 0o666)  # writable by others: it may have been planted
    assert cache.get(key) is None
    os.chmod(path, 0o600)
    os.chmod(tmp_path / "replies", 0o777)
    assert cache.get(key) is None
    assert not cache.put(key_of("y", {}), RESULT)  # nor is anything stored in a shared folder
    os.chmod(tmp_path / "replies", 0o700)
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_bytes(good)
    assert cache.get(key) is None  # a link is not an entry


def test_a_value_json_cannot_hold_is_not_stored(tmp_path):
    cache = ReplyCache(tmp_path / "replies")
    assert not cache.put("k" * 64, {**RESULT, "value": float("nan")})


@pytest.mark.parametrize("env, expected", [
    ({"POLYPROMPT_REPLY_CACHE_DIR": "/x/replies"}, "/x/replies"),
    ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/polyprompt/replies"),
    ({"HOME": "/home/u"}, "/home/u/.cache/polyprompt/replies"),
    ({"HOME": ""}, None),
    ({"HOME": "/"}, None),
    ({"HOME": "/home/u", "POLYPROMPT_REPLY_CACHE": "0"}, None),
])
def test_the_folder_follows_the_cache_rules(monkeypatch, env, expected):
    for name in ("POLYPROMPT_REPLY_CACHE_DIR", "XDG_CACHE_HOME", "POLYPROMPT_REPLY_CACHE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    found = reply_cache.default_folder()
    assert (str(found) if found is not None else None) == expected
    assert (ReplyCache.default() is None) == (expected is None)
