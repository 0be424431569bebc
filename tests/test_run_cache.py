"""The reply cache (run/cache.py): keys, hits and misses, private files, corrupt entries."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
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
        cache.put(key_of("anthropic", BODY), RESULT)
    finally:
        os.umask(old)
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "replies").stat().st_mode) == 0o700
    for sidecar in (tmp_path / "replies").iterdir():  # SQLite's WAL files take the database's mode
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600, sidecar


def tamper(cache: ReplyCache, sql: str, *args) -> None:
    cache.close()
    db = sqlite3.connect(cache.path)
    db.execute(sql, args)
    db.commit()
    db.close()


def test_a_corrupt_or_foreign_entry_is_a_miss(tmp_path):
    cache = ReplyCache(tmp_path / "replies")
    key = key_of("openai-chat", BODY)
    cache.put(key, RESULT)
    payload = json.dumps(RESULT, sort_keys=True, separators=(",", ":")).encode()
    edited = payload.replace(b'"good"', b'"evil"', 1)
    for sql, args in [("UPDATE replies SET result = ?", (edited,)),  # an edited reply: its checksum fails
                      ("UPDATE replies SET result = ?, sha256 = ?", (b"[]", hashlib.sha256(b"[]").hexdigest())),
                      ("UPDATE replies SET result = ?, sha256 = ?", (b"{x", hashlib.sha256(b"{x").hexdigest())),
                      ("UPDATE replies SET format = 99", ()),
                      ("UPDATE replies SET result = 'text'", ())]:
        cache.put(key, RESULT)
        tamper(cache, sql, *args)
        assert cache.get(key) is None, sql
    cache.put(key, RESULT)
    assert cache.get(key) == RESULT
    cache.close()
    os.chmod(cache.path, 0o666)  # writable by others: it may have been planted
    assert cache.get(key) is None
    os.chmod(cache.path, 0o600)
    os.chmod(tmp_path / "replies", 0o777)
    assert cache.get(key) is None
    assert not cache.put(key_of("y", {}), RESULT)  # nor is anything stored in a shared folder
    os.chmod(tmp_path / "replies", 0o700)
    assert cache.get(key) == RESULT
    cache.close()
    good = tmp_path / "elsewhere.sqlite3"
    os.replace(cache.path, good)
    cache.path.symlink_to(good)
    assert cache.get(key) is None and not cache.put(key, RESULT)  # a link is not the database
    cache.path.unlink()
    for name in os.listdir(tmp_path / "replies"):
        os.unlink(tmp_path / "replies" / name)
    cache.path.write_bytes(b"not a database at all" * 100)
    os.chmod(cache.path, 0o600)
    assert cache.get(key) is None and not cache.put(key, RESULT)  # no cache, never an error


def test_two_caches_share_one_database(tmp_path):
    first, second = ReplyCache(tmp_path / "r"), ReplyCache(tmp_path / "r")
    first.put("a" * 64, RESULT)
    assert second.get("a" * 64) == RESULT


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
