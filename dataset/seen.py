"""The lines seen so far, for dropping exact duplicates, in a hash table on disk.

An exact duplicate check must remember every line (8 bytes a line at least): a million lines
would be 8 MB more memory at the end of a build than at the start. So the 64-bit hashes of the
lines (the str's own SipHash, keyed per process; BLAKE2b where that is not 64 bits) live in an
unlinked temporary file, read and written a bucket at a
time; the file (16-32 bytes a line: a quarter to half full) goes away with the process, even a killed one.

The table is a file of buckets of `SLOTS` hashes, filled from the front. A hash's bucket is its
low bits; when the table is half full, or one bucket is full, it doubles: each bucket splits into
two by the next bit, streamed into a new file a bucket at a time. In memory: the fill of each
bucket (one byte per 16-32 lines), and a fixed 1 MiB bitmap of the hashes seen (by their high bits):
a line whose bit is clear is new for sure, and costs one write, no read. Two lines are taken for
the same only when their 64-bit hashes agree (about one false match in 10^7 builds of a million
lines).
"""
from __future__ import annotations

import mmap
import os
import sys
import tempfile
from array import array
from hashlib import blake2b as _digest

#: hashes a bucket holds (one 512-byte read at most a line)
SLOTS = 64
BUCKET = SLOTS * 8
#: buckets of a new table
FIRST = 64
#: bits of the bitmap of hashes seen (fixed: the memory does not grow with the lines)
FILTER_BITS = 23
#: the largest table mapped into memory (up to 32k lines): its pages count as the process's memory
MAPPED = 1 << 19


def _siphash(text: str) -> int:
    """The str's own 64-bit SipHash, as unsigned: keyed per process (PYTHONHASHSEED), which is
    all the table needs (it lives as long as the process), and 15 times cheaper than a hashlib
    object per line."""
    return hash(text) & 0xFFFF_FFFF_FFFF_FFFF


def _blake2b(text: str) -> int:
    """BLAKE2b's 64 bits of the text: where Python's str hash is not a 64-bit SipHash."""
    return int.from_bytes(_digest(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


_hash = _siphash if sys.hash_info.width == 64 and sys.hash_info.algorithm.startswith("siphash") else _blake2b


class SeenLines:
    """Which line texts were seen: `add(text)` is True for a new one."""

    def __init__(self) -> None:
        self.count = 0
        self.low = FIRST - 1  # the bucket of a hash: its low bits
        self.fill = array("B", bytes(FIRST))
        self.filter = bytearray(1 << (FILTER_BITS - 3))
        self.table = _Table(FIRST)

    def add(self, text: str) -> bool:
        """Record `text`; whether it was new."""
        number = _hash(text)
        key = number.to_bytes(8, "little")
        bit = number >> (64 - FILTER_BITS)
        byte, mask, fill = bit >> 3, 1 << (bit & 7), self.fill
        b = number & self.low
        if self.filter[byte] & mask and _slot(self.table.read(b * BUCKET, fill[b] * 8), key) >= 0:
            return False
        if fill[b] == SLOTS:  # this bucket is full: split them all
            self._grow()
            fill, b = self.fill, number & self.low
        self.table.write(key, b * BUCKET + fill[b] * 8)
        fill[b] += 1
        self.filter[byte] |= mask
        self.count += 1
        if self.count * 2 > SLOTS * len(fill) or fill[b] == SLOTS:
            self._grow()
        return True

    def _grow(self) -> None:
        """Double the buckets: bucket b of n splits into b and b + n by the next bit of the hash."""
        old, half = self.table, len(self.fill)
        new, fill = _Table(2 * half), array("B", bytes(2 * half))
        for b in range(half):
            data = old.read(b * BUCKET, self.fill[b] * 8)
            keys = [data[i:i + 8] for i in range(0, len(data), 8)]
            low = [k for k in keys if not int.from_bytes(k, "little") & half]
            high = [k for k in keys if int.from_bytes(k, "little") & half]
            new.write(b"".join(low), b * BUCKET)
            new.write(b"".join(high), (b + half) * BUCKET)
            fill[b], fill[b + half] = len(low), len(high)
        old.close()
        self.table, self.low, self.fill = new, 2 * half - 1, fill

    def __enter__(self) -> "SeenLines":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the table (its file goes away)."""
        self.table.close()

    def __len__(self) -> int:
        return self.count


class _Table:
    """The table's file: an unlinked temporary file of `buckets` empty buckets. A small one
    (up to `MAPPED` bytes) is mapped into memory: a line costs no system call (a write a line
    is most of the check's time where system calls are dear); a larger one is read and written
    a bucket at a time, so the memory it holds stays the same at any size."""

    def __init__(self, buckets: int):
        self.file = tempfile.TemporaryFile(prefix="polyprompt-seen-")
        self.file.truncate(buckets * BUCKET)  # sparse: disk is taken as buckets fill
        self.fd = self.file.fileno()
        self.map = mmap.mmap(self.fd, buckets * BUCKET) if buckets * BUCKET <= MAPPED else None
        if self.map is not None:  # instance attributes: no branch a line
            self.read, self.write = self._map_read, self._map_write  # type: ignore[method-assign]

    def read(self, offset: int, size: int) -> bytes:
        """`size` bytes at `offset`."""
        return os.pread(self.fd, size, offset)

    def write(self, data: bytes, offset: int) -> None:
        """Write `data` at `offset`."""
        os.pwrite(self.fd, data, offset)

    def _map_read(self, offset: int, size: int) -> bytes:
        assert self.map is not None
        return self.map[offset:offset + size]

    def _map_write(self, data: bytes, offset: int) -> None:
        assert self.map is not None
        self.map[offset:offset + len(data)] = data

    def close(self) -> None:
        """Unmap and close the file (it goes away)."""
        if self.map is not None:
            self.map.close()
        self.file.close()


def _slot(bucket: bytes, key: bytes) -> int:
    """The byte offset of the slot holding `key` in `bucket`, or -1 (a match must be slot-aligned)."""
    i = bucket.find(key)
    while i >= 0 and i % 8:
        i = bucket.find(key, i + 1)
    return i
