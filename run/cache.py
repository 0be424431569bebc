"""The reply cache: a provider's answer to an exact request, kept on disk so that running the same
rows again (an evaluation re-run, a resumed labelling job) pays for nothing twice.

An entry is keyed by `key_of(target, body, settings)`: the SHA-256 of the canonical JSON of the
target name, the exact body sent (its keys in the order they are sent: a body that differs in any
byte is another request) and the endpoint settings that change the answer without being in the
body (base URL, region, project, API version). Settings that look like credentials (`api_key`,
`token`, `authorization`, ...) are never part of a key, so no secret reaches the disk in any form.

Only successful replies are stored: an API error, a timeout or a reply that did not parse into the
prompt's output type is asked again next time. Each entry is one JSON file
(`<folder>/<key[:2]>/<key>.json`), written to a temporary file and renamed (a reader never sees
half an entry), readable by its owner only (0600, folders 0700). An entry is used only when it is a
regular file owned by this user that nobody else can write, in a folder the same holds for, of the
current format, naming its own key, with a checksum that matches: anything else (truncated,
edited, planted) is a miss, never an error.

The folder is `$POLYPROMPT_REPLY_CACHE_DIR`, else `$XDG_CACHE_HOME/polyprompt/replies` (else
`~/.cache/polyprompt/replies`): the rule of `compiler.files.cache_dir`. Without a home folder there
is no reply cache, never a shared temporary one. `POLYPROMPT_REPLY_CACHE=0` turns it off.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Mapping

from ..compiler.files import cache_dir

#: the entry format; entries of another format are misses
FORMAT = 1
#: the largest entry read back (a reply this big is asked again rather than read whole)
MAX_ENTRY_BYTES = 64 * 1024 * 1024
#: setting names (parts of) never put in a key: credentials
_SECRET_WORDS = ("key", "token", "secret", "authorization", "password", "credential")
#: the fields of a result an entry keeps
FIELDS = ("value", "text", "raw", "usage", "latency_ms", "tool_calls")


def key_of(target: str, body: Mapping[str, Any], settings: Mapping[str, Any] | None = None) -> str:
    """The cache key of a request: the hex SHA-256 of the canonical JSON of (target, body,
    settings). The body keeps its key order (the bytes sent); settings are sorted, credentials left out."""
    kept = {k: v for k, v in (settings or {}).items() if not _is_secret(k)}
    text = json.dumps(["polyprompt-reply", FORMAT, target, body, dict(sorted(kept.items()))],
                      ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def default_folder() -> Path | None:
    """Where replies are kept (see the module docstring); None when there is no reply cache."""
    if os.environ.get("POLYPROMPT_REPLY_CACHE", "1") == "0":
        return None
    configured = os.environ.get("POLYPROMPT_REPLY_CACHE_DIR")
    if configured:
        return Path(configured)
    return cache_dir("replies")


class ReplyCache:
    """Replies on disk, one file an entry. `get(key)` gives a stored result (a dict of `FIELDS`) or
    None; `put(key, result)` stores one. Counts its `hits`, `misses` and `stores`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.hits = self.misses = self.stores = 0

    @classmethod
    def default(cls) -> "ReplyCache | None":
        """The user's reply cache, or None when there is none (no home, or turned off)."""
        folder = default_folder()
        return cls(folder) if folder is not None else None

    def path(self, key: str) -> Path:
        """The file of an entry."""
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored result for `key`, or None (a miss: absent, unreadable, corrupt or not ours)."""
        found = self._read(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def _read(self, key: str) -> dict | None:
        path = self.path(key)
        if not (_private_dir(self.folder) and _private_dir(path.parent)):
            return None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not _private_file(st) or st.st_size > MAX_ENTRY_BYTES:
                return None
            data = handle.read(MAX_ENTRY_BYTES + 1)
        return _entry(data, key)

    def put(self, key: str, result: Mapping[str, Any]) -> bool:
        """Store a successful result for `key`; False when it cannot be written (a cache that cannot
        be written is only slower) or the folder is not private."""
        record = {name: result.get(name) for name in FIELDS}
        try:
            payload = _canonical(record)
        except (TypeError, ValueError):
            return False  # a value JSON cannot hold: not stored
        entry = json.dumps({"format": FORMAT, "key": key, "sum": hashlib.sha256(payload).hexdigest(),
                            "result": record}, ensure_ascii=False, allow_nan=False, default=str)
        path = self.path(key)
        try:
            for folder in (self.folder, path.parent):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                if not _private_dir(folder):
                    return False
            _write_private(path, entry.encode("utf-8"))
        except OSError:
            return False
        self.stores += 1
        return True


def _canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      default=str).encode("utf-8")


def _entry(data: bytes, key: str) -> dict | None:
    """The result held by an entry file's bytes, if they are a whole entry for `key`."""
    try:
        entry = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
        return None
    result = entry.get("result")
    if not isinstance(result, dict) or set(result) != set(FIELDS):
        return None
    try:
        if hashlib.sha256(_canonical(result)).hexdigest() != entry.get("sum"):
            return None
    except (TypeError, ValueError):
        return None
    return result


def _private_dir(path: Path) -> bool:
    """A folder of this user's that neither group nor others can write (a symlink is not one)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _private_file(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _write_private(path: Path, payload: bytes) -> None:
    """Write `payload` to a new 0600 file beside `path` and rename it over `path`. No fsync: losing
    an entry in a power cut costs one request, and a torn entry is a miss."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
