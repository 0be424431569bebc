"""The compile cache: generated renderers on disk, so a fresh process compiles
without parsing the file or importing the compiler.

After a prompt takes the generated fast path for a target (compiler/codegen.py),
`store` writes what that path needs: the renderer's and the input check's
source, the defaults, the body parts that do not depend on the inputs, and the
lowering report. `lookup` returns it to a later process when every source file
(the entry, its imports, stdlib modules) still has the same SHA-256 and the
compiler is the same build. Like Python's `.pyc` files: a cache, never the truth.
Turned off by POLYPROMPT_CACHE=0; kept in ~/.cache/polyprompt/compiled (or
POLYPROMPT_CACHE_DIR). This module imports nothing heavy: that is its point.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from . import files

VERSION = 1


def enabled() -> bool:
    return os.environ.get("POLYPROMPT_CACHE", "1") != "0"


def folder() -> Path:
    configured = os.environ.get("POLYPROMPT_CACHE_DIR")
    if configured:
        return Path(configured)
    return files.cache_dir("compiled") or Path(os.devnull, "compiled")  # no home: every read and write fails


def _file_for(entry: str) -> Path:
    return folder() / (hashlib.sha256(entry.encode()).hexdigest()[:32] + ".json")


def _sha(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


_BUILD: str | None = None


def build_id() -> str:
    """The compiler build: its version and the size and time of every module of the package."""
    global _BUILD
    if _BUILD is None:
        import importlib.util

        import polyprompt

        stamps = [polyprompt.__version__]
        for package in ("polyprompt", "polyprompt.compiler", "polyprompt.backends"):
            spec = importlib.util.find_spec(package)
            for root in spec.submodule_search_locations or ():
                for dirpath, _dirs, files in os.walk(root):
                    for name in sorted(files):
                        if name.endswith(".py"):
                            st = os.stat(os.path.join(dirpath, name))
                            stamps.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        _BUILD = hashlib.sha256("\n".join(stamps).encode()).hexdigest()[:24]
    return _BUILD


def lookup(entry: str, key: str) -> dict | None:
    """The stored record for `key` if the entry file and its imports are unchanged."""
    try:
        data = json.loads(_file_for(entry).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("version") != VERSION or data.get("build") != build_id():
        return None
    if any(_sha(path) != digest for path, digest in data.get("files", {}).items()):
        return None
    return data.get("records", {}).get(key)


def store(entry: str, files: dict[str, str], key: str, record: dict) -> None:
    """Add a record; `files` maps every source path to the SHA-256 of the text compiled."""
    path = _file_for(entry)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("files") != files or data.get("build") != build_id() or data.get("version") != VERSION:
            data = None
    except (OSError, ValueError):
        data = None
    data = data or {"version": VERSION, "build": build_id(), "entry": entry, "files": files, "records": {}}
    data["records"][key] = record
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written is only slower


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
