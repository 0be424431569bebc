"""The reply cache: a provider's answer to an exact request, kept on disk so that running the same
rows again (an evaluation re-run, a resumed labelling job) pays for nothing twice.

An entry is keyed by `key_of(target, body, settings)`: the SHA-256 of the canonical JSON of the
target name, the exact body sent (its keys in the order they are sent: a body that differs in any
byte is another request) and the endpoint settings that change the answer without being in the
body (base URL, region, project, API version). Settings that look like credentials (`api_key`,
`token`, `authorization`, ...) are never part of a key, so no secret reaches the disk in any form.

A second table, the inputs index, lets a re-run skip the compile of a row it has answered: it maps
`inputs_key(fingerprint, target, prompt, inputs, settings)` (the SHA-256 of the compiled program's
fingerprint, that is every source file's text, the project root and the compiler build; the target;
the prompt; the inputs as canonical JSON; the endpoint settings) to the key of the body those
inputs compiled to. The body-keyed entry stays the truth: a hit reads the reply through the body
key, and any change to the program, the compiler, the target, the options or the inputs is another
inputs key, so it compiles again and looks the reply up by its body as before.

Only successful replies are stored: an API error, a timeout or a reply that did not parse into the
prompt's output type is asked again next time. Entries live in one SQLite database
(`<folder>/replies.sqlite3`, WAL journal, so several runs may share it), a row an entry holding
the result's canonical JSON and its SHA-256; the file is readable by its owner only (0600, the
folder 0700). The database is used only when the folder and the file are this user's and nobody
else can write them (a symlink is neither); an entry only when it is of the current format and its
checksum matches. Anything else (an edited row, a file that is not a database, a planted file) is a
miss, never an error. (One file an entry cost several system calls a reply; one database, one.)

The folder is `$POLYPROMPT_REPLY_CACHE_DIR`, else `$XDG_CACHE_HOME/polyprompt/replies` (else
`~/.cache/polyprompt/replies`): the rule of `compiler.files.cache_dir`. Without a home folder there
is no reply cache, never a shared temporary one. `POLYPROMPT_REPLY_CACHE=0` turns it off.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..compiler.files import cache_dir

#: the entry format; entries of another format are misses
FORMAT = 1
#: the largest number of keys looked up in one query (SQLite's limit on variables is 999 in old builds)
BATCH = 500
#: the largest entry stored (a reply this big is asked again rather than kept)
MAX_ENTRY_BYTES = 64 * 1024 * 1024
#: setting names (parts of) never put in a key: credentials
_SECRET_WORDS = ("key", "token", "secret", "authorization", "password", "credential")
#: the fields of a result an entry keeps
FIELDS = ("value", "text", "raw", "usage", "latency_ms", "tool_calls")
#: the database file in the cache folder
DB_NAME = "replies.sqlite3"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def key_of(target: str, body: Mapping[str, Any], settings: Mapping[str, Any] | None = None) -> str:
    """The cache key of a request: the hex SHA-256 of the canonical JSON of (target, body,
    settings). The body keeps its key order (the bytes sent); settings are sorted, credentials left out."""
    kept = {k: v for k, v in (settings or {}).items() if not _is_secret(k)}
    text = json.dumps(["polyprompt-reply", FORMAT, target, body, dict(sorted(kept.items()))],
                      ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def inputs_key(fingerprint: str, target: str, prompt: str, inputs: Mapping[str, Any],
               settings: Mapping[str, Any] | None = None) -> str | None:
    """The key of the inputs index: the hex SHA-256 of (fingerprint, target, prompt, settings,
    inputs); None when the inputs are not plain JSON (then the row is compiled and keyed by its
    body only). The inputs keep their key order (a prompt may loop over a mapping in order), and
    1, 1.0 and true stay three values. (`InputsKeys` makes many keys of one run faster.)"""
    return InputsKeys(fingerprint, target, prompt, settings)(inputs)


class InputsKeys:
    """`inputs_key` for many rows of one run: the part shared by every key is hashed once."""

    def __init__(self, fingerprint: str, target: str, prompt: str, settings: Mapping[str, Any] | None = None):
        kept = {k: v for k, v in (settings or {}).items() if not _is_secret(k)}
        head = json.dumps(["polyprompt-inputs", FORMAT, fingerprint, target, prompt, dict(sorted(kept.items()))],
                          ensure_ascii=False, separators=(",", ":"), default=str)
        # the inputs' JSON closes the array: `head` (all but its `]`) is one fixed prefix per run
        self._head = hashlib.sha256((head[:-1] + ",").encode("utf-8", "surrogatepass"))

    def __call__(self, inputs: Mapping[str, Any]) -> str | None:
        """The key of one row's inputs (None when they are not plain JSON)."""
        if not _plain_json(inputs):
            return None
        try:
            text = _INPUTS_JSON.encode(inputs)
        except (TypeError, ValueError):
            return None
        digest = self._head.copy()
        digest.update((text + "]").encode("utf-8", "surrogatepass"))
        return digest.hexdigest()


#: the JSON of inputs in a key (compact, NaN refused; one encoder, not one a row)
_INPUTS_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _plain_json(value: Any, depth: int = 0) -> bool:
    """Only dicts with str keys, lists, str, int, float, bool and None (a tuple, a date, a subclass
    of str could render otherwise than its JSON text says)."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return True
    if depth > 64:
        return False
    if kind is dict:
        return all(type(k) is str and _plain_json(v, depth + 1) for k, v in value.items())
    if kind is list:
        return all(_plain_json(v, depth + 1) for v in value)
    return False


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
    """Replies on disk, in one SQLite file. `get(key)` gives a stored result (a dict of `FIELDS`)
    or None; `put(key, result)` stores one. Counts its `hits`, `misses` and `stores`. Safe to share
    between threads and processes (SQLite's locking, WAL journal)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        self.hits = self.misses = self.stores = 0
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> "ReplyCache | None":
        """The user's reply cache, or None when there is none (no home, or turned off)."""
        folder = default_folder()
        return cls(folder) if folder is not None else None

    def get(self, key: str) -> dict | None:
        """The stored result for `key`, or None (a miss: absent, unreadable, corrupt or not ours)."""
        found = self._read(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def _read(self, key: str) -> dict | None:
        with self._lock:
            db = self._connect(create=False)
            if db is None:
                return None
            try:
                row = db.execute("SELECT format, sha256, result FROM replies WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error:
                return None
        return _entry(row)

    def get_by_inputs(self, keys: Sequence[str]) -> dict[str, tuple[str, dict]]:
        """The stored results of the rows whose inputs keys are `keys`: {inputs key: (body key,
        result)}, in a few queries (one per `BATCH` keys). A key absent from the answer is a miss
        (not counted: the row is then compiled and looked up by its body)."""
        found: dict[str, tuple[str, dict]] = {}
        with self._lock:
            db = self._connect(create=False)
            if db is None:
                return found
            for start in range(0, len(keys), BATCH):
                part = keys[start:start + BATCH]
                try:
                    rows = db.execute(f"SELECT i.key, i.body_key, r.format, r.sha256, r.result FROM inputs i "
                                      f"JOIN replies r ON r.key = i.body_key WHERE i.key IN "
                                      f"({','.join('?' * len(part))})", part).fetchall()
                except sqlite3.Error:
                    return found
                for key, body_key, *entry in rows:
                    result = _entry(entry)
                    if result is not None:
                        found[key] = (body_key, result)
        self.hits += len(found)
        return found

    def put(self, key: str, result: Mapping[str, Any]) -> bool:
        """Store a successful result for `key`; False when it cannot be stored (a cache that cannot
        be written is only slower), the folder or file is not private, or JSON cannot hold a value."""
        return self.put_many([(key, result)]) == 1

    def put_many(self, items: Sequence[tuple[str, Mapping[str, Any]]],
                 links: Sequence[tuple[str, str]] = ()) -> int:
        """Store several results in one transaction (what a bulk run does every fraction of a
        second), and `links` (inputs key, body key) in the inputs index; how many results were stored."""
        rows = []
        for key, result in items:
            try:
                payload = _canonical({name: result.get(name) for name in FIELDS})
            except (TypeError, ValueError):
                continue  # a value JSON cannot hold (NaN...): not stored
            if len(payload) <= MAX_ENTRY_BYTES:
                rows.append((key, FORMAT, hashlib.sha256(payload).hexdigest(), payload))
        if not rows and not links:
            return 0
        with self._lock:
            db = self._connect(create=True)
            if db is None:
                return 0
            try:
                with db:  # one transaction
                    db.execute("BEGIN")
                    db.executemany("INSERT OR REPLACE INTO replies (key, format, sha256, result) VALUES (?, ?, ?, ?)",
                                   rows)
                    db.executemany("INSERT OR REPLACE INTO inputs (key, body_key) VALUES (?, ?)", links)
            except sqlite3.Error:
                return 0
        self.stores += len(rows)
        return len(rows)

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """The open database (made, 0600 in a 0700 folder, when `create`); None when it is absent,
        not private, or not a database."""
        if self._db is not None:
            return self._db
        try:
            if create:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _private_dir(self.folder):
                return None
            if create and not os.path.lexists(self.path):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600))
            if not _private_file(self.path):
                return None
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error):
            return None
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
            db.execute("PRAGMA synchronous=NORMAL")  # no fsync a reply: a lost entry costs one request
            db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, format INTEGER NOT NULL, "
                       "sha256 TEXT NOT NULL, result BLOB NOT NULL) WITHOUT ROWID")
            db.execute("CREATE TABLE IF NOT EXISTS inputs (key TEXT PRIMARY KEY, body_key TEXT NOT NULL) WITHOUT ROWID")
        except sqlite3.Error:
            db.close()
            return None  # a file that is not a database: no cache, never an error
        self._db = db
        return db

    def close(self) -> None:
        """Close the database (a later `get` or `put` opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      default=str).encode("utf-8")


def _entry(row: Any) -> dict | None:
    """The result of a stored row, if it is of this format and its checksum matches."""
    if row is None:
        return None
    fmt, digest, payload = row
    if fmt != FORMAT or not isinstance(payload, bytes) or hashlib.sha256(payload).hexdigest() != digest:
        return None
    try:
        result = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return result if isinstance(result, dict) and set(result) == set(FIELDS) else None


def _private_dir(path: Path) -> bool:
    """A folder of this user's that neither group nor others can write (a symlink is not one)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _private_file(path: Path) -> bool:
    """A regular file (not a symlink) of this user's that nobody else can write."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022
