"""The write-ahead journal of a bulk run (`<out>.partial`): each finished row appended as it
finishes, so a run killed at any moment can be resumed, and the final file assembled from it.

A journal line is the output line's JSON, a tab, and the request's cache key (empty for a row that
was never sent): JSON text holds no raw tab, and the final file is assembled by copying bytes.
Lines are written with one `os.write` each on an `O_APPEND` descriptor: the kernel holds them as
soon as the call returns, so a killed process loses no finished row; `fsync` (every
`bulk.SYNC_SECONDS` and at the end) guards against a crash of the machine. Reading a journal back
skips what a kill can leave (a last line cut short, which is also cut off the file so later lines
start on a line of their own). For a row journaled twice the last line counts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from ..compiler.files import sync_folder


#: a journal up to this size is read at once to assemble the results file
WHOLE_READ = 64 * 1024 * 1024
#: the encoder of journal lines (one for all lines)
_LINE_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


class Journal:
    """An open journal: `index` maps a row number to (offset, length, key, failed) of its last line."""

    def __init__(self, path: Path, resume: bool):
        self.path = path
        self.index: dict[int, tuple[int, int, str | None, bool]] = {}
        self.dirty = False
        if resume:
            self._load()
        elif path.exists():
            path.unlink()
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        self.size = os.fstat(self.fd).st_size

    def _load(self) -> None:
        """Index the lines of an earlier run; cut a torn last line off the file."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return
        offset = good_end = 0
        with handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a line the kill cut short
                entry = _entry(raw)
                if entry is not None:
                    row, key, failed, length = entry
                    self.index[row] = (offset, length, key, failed)
                offset += len(raw)
                good_end = offset
        if os.path.getsize(self.path) != good_end:
            os.truncate(self.path, good_end)

    def holds(self, row: int, key: str) -> bool:
        """Whether the journal has an answer of this row to this very request (an error is no
        answer: a resumed run asks again, as it would past the reply cache)."""
        found = self.index.get(row)
        return found is not None and found[2] == key and not found[3]

    def append(self, row: int, key: str | None, line: dict) -> None:
        """Journal a finished row (written through at once)."""
        text = _LINE_JSON.encode(line).encode("utf-8")
        data = text + b"\t" + (key or "").encode("ascii") + b"\n"
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.index[row] = (self.size, len(text), key, line.get("error") is not None)
        self.size += len(data)
        self.dirty = True

    def fsync(self) -> None:
        """Put what is written on disk."""
        os.fsync(self.fd)

    def sync(self) -> None:
        """Put what is written on disk (now, from any thread)."""
        self.dirty = False
        self.fsync()

    def close(self) -> None:
        """Close the descriptor (the file stays, for a resumed run)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def assemble(self, order: Iterable[int], out: Path, durable: bool = True) -> None:
        """Write the lines of the rows `order` lists, in that order, to `out` (a temporary file
        renamed over it, so a reader never sees half of it), then remove the journal. `durable`:
        fsync the file and its folder (a run that paid for nothing leaves that to the system: after
        a crash, running it again rebuilds the same file from the cache at no cost)."""
        out = Path(out)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            with open(self.path, "rb") as journal, open(tmp, "wb") as handle:
                whole = journal.read() if self.size <= WHOLE_READ else None  # one read, not a seek a row
                for row in order:
                    offset, length, _key, _failed = self.index[row]
                    if whole is not None:
                        handle.write(whole[offset:offset + length] + b"\n")
                        continue
                    journal.seek(offset)
                    handle.write(journal.read(length) + b"\n")
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if durable:
            sync_folder(out.parent)
        self.path.unlink(missing_ok=True)


def _entry(raw: bytes) -> tuple[int, str | None, bool, int] | None:
    """(row, key, failed, length of the output line) of a journal line, or None for a line that is not one."""
    text, tab, key = raw.rstrip(b"\n").rpartition(b"\t")
    try:
        line = json.loads(text) if tab else None
        name = key.decode("ascii")
    except (ValueError, RecursionError):
        return None
    if not isinstance(line, dict) or type(line.get("row")) is not int or not all(c in "0123456789abcdef" for c in name):
        return None
    return line["row"], name or None, line.get("error") is not None, len(text)

