"""The compile cache: generated renderers on disk, so a fresh process compiles without parsing the
file or importing the compiler.

After a prompt takes the generated path for a target (session/generated.py), `store` writes what
that path needs: the renderer's and the input check's source, the defaults, the body parts that do
not depend on the inputs, and whether there is a lowering report. `lookup` returns it to a later
process when every source file (the entry, its imports, stdlib modules) still has the same SHA-256
and the compiler is the same build (`build`, given by the caller). Like Python's `.pyc` files: a
cache, never the truth.

The records hold Python source that is run, so only this user may have written them: the folder
must belong to the user and be writable by nobody else, and every file carries an HMAC made with a
key that only the user can read (`.key`, created 0600 on first store). A file that fails any of
these is ignored (and overwritten by the next store). Turned off by POLYPROMPT_CACHE=0; kept in
$XDG_CACHE_HOME/polyprompt/compiled (or POLYPROMPT_CACHE_DIR); no home, no cache. This module
imports nothing heavy: that is its point.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

from ..compiler.files import cache_dir, write_atomic

VERSION = 2


def enabled() -> bool:
    """Is the compile cache on (POLYPROMPT_CACHE is not "0")?"""
    return os.environ.get("POLYPROMPT_CACHE", "1") != "0" and folder() is not None


def folder() -> Path | None:
    """Where the records live (POLYPROMPT_CACHE_DIR, else the shared cache rule of
    compiler/files.py); None without a home folder to put them in."""
    configured = os.environ.get("POLYPROMPT_CACHE_DIR")
    if configured:
        return Path(configured)
    return cache_dir("compiled")


def _file_for(root: Path, entry: str) -> Path:
    return root / (hashlib.sha256(entry.encode()).hexdigest()[:32] + ".json")


def file_digest(path: str) -> str | None:
    """The SHA-256 of a file's bytes (None when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _private(path: Path, directory: bool) -> bool:
    """Does `path` belong to this user, and can nobody else write it (or, for the key, read it)?"""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    kind_ok = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
    others = 0o022 if directory else 0o077
    return kind_ok and st.st_uid == os.geteuid() and not st.st_mode & others


def _key(root: Path, create: bool) -> bytes | None:
    """The user's secret for this cache folder (made on the first store)."""
    path = root / ".key"
    if not _private(root, directory=True):
        return None
    if not _private(path, directory=False):
        if not create or path.exists() or path.is_symlink():
            return None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
        except OSError:
            return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _mac(key: bytes, data: dict) -> str:
    content = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _read(path: Path, key: bytes, build: str) -> dict | None:
    """The records of one entry file, if authentic and of this build."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("mac"), str):
        return None
    mac = data.pop("mac")
    if not hmac.compare_digest(mac, _mac(key, data)):
        return None
    if data.get("version") != VERSION or data.get("build") != build:
        return None
    if not isinstance(data.get("files"), dict) or not data["files"] or not isinstance(data.get("records"), dict):
        return None
    return data


def lookup(entry: str, key: str, build: str) -> dict | None:
    """The stored record for `key` if the entry file and its imports are unchanged."""
    root = folder()
    secret = _key(root, create=False) if root is not None else None
    if root is None or secret is None:
        return None
    data = _read(_file_for(root, entry), secret, build)
    if data is None or any(file_digest(path) != digest for path, digest in data["files"].items()):
        return None
    record = data["records"].get(key)
    return record if isinstance(record, dict) else None


def store(entry: str, files: dict[str, str], key: str, record: dict, build: str) -> None:
    """Add a record; `files` maps every source path to the SHA-256 of the text compiled."""
    root = folder()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return
    secret = _key(root, create=True)
    if secret is None:
        return  # a folder others can write: never run what it holds
    path = _file_for(root, entry)
    data = _read(path, secret, build)
    if data is None or data.get("files") != files:
        data = {"version": VERSION, "build": build, "entry": entry, "files": files, "records": {}}
    data["records"][key] = record
    data["mac"] = _mac(secret, data)
    try:
        write_atomic(path, json.dumps(data, ensure_ascii=False), mode=0o600)  # records hold the prompt text
    except OSError:
        pass  # a cache that cannot be written is only slower
