"""The bound on a provider's reply: no reply, plain or streamed, is read past `max_reply_bytes`.

A reply that says it is larger (`Content-Length`) is refused before its body is read; any other
(chunked, or a stream with no length) is counted as it arrives and dropped at the first chunk
past the bound, so a server that sends without end costs at most the bound in memory. The bytes
counted are the decoded ones (after gzip), so a small compressed reply cannot expand past it.
Streams are cut into lines here too (`lines`), so one endless line is bounded like the rest.
"""
from __future__ import annotations

import codecs
import re
from typing import AsyncIterator, Iterable, Iterator, Mapping

#: the default bound on one reply (plain or streamed), in bytes: 32 MiB, far past any answer
DEFAULT_MAX_REPLY_BYTES = 32 * 1024 * 1024


class ReplyTooLarge(Exception):
    """The reply went past the bound; the message says how large it was said or seen to be."""

    def __init__(self, limit: int, declared: int | None = None):
        self.limit, self.declared = limit, declared
        size = f"{declared} bytes" if declared is not None else f"more than {limit} bytes"
        super().__init__(f"the reply is {size}, over the limit of {limit} bytes (--max-reply-bytes, Client(max_reply_bytes=...)); "
                         f"it was not read further")


def check_declared(headers: Mapping[str, str], limit: int) -> None:
    """ReplyTooLarge when the reply's Content-Length is over `limit` (an unreadable one is ignored:
    the count as it arrives still holds)."""
    value = headers.get("content-length")
    try:
        declared = int(value) if value is not None else None
    except ValueError:
        return
    if declared is not None and declared > limit:
        raise ReplyTooLarge(limit, declared)


def counted(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """The chunks, until their total passes `limit`: then ReplyTooLarge (the chunk is not kept)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise ReplyTooLarge(limit)
        yield chunk


async def acounted(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """`counted`, async."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise ReplyTooLarge(limit)
        yield chunk


def read_all(response, limit: int) -> bytes:
    """The whole body of an httpx response opened with `stream=True`, within `limit`."""
    check_declared(response.headers, limit)
    return b"".join(counted(response.iter_bytes(), limit))


async def aread_all(response, limit: int) -> bytes:
    """`read_all`, async."""
    check_declared(response.headers, limit)
    return b"".join([chunk async for chunk in acounted(response.aiter_bytes(), limit)])


class LineSplitter:
    """UTF-8 bytes in, lines out (without their end: `\\n`, `\\r\\n` or `\\r`, the ends server-sent
    events allow; not the other ends `str.splitlines` knows, such as U+2028, which JSON text may
    hold), keeping only the unfinished last line between chunks (as a list: no quadratic joins)."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._rest: list[str] = []
        self._cr = False  # the last chunk ended in `\\r`: a `\\n` starting the next one belongs to it

    def feed(self, chunk: bytes) -> list[str]:
        """The lines `chunk` completes."""
        return self._split(self._decoder.decode(chunk))

    def _split(self, text: str) -> list[str]:
        if not text:
            return []
        if self._cr and text.startswith("\n"):
            text = text[1:]
            if not text:
                self._cr = False
                return []
        self._cr = False
        pieces = _ENDS.split(text)
        if len(pieces) == 1:
            self._rest.append(text)
            return []
        self._cr = text.endswith("\r")
        first = "".join(self._rest) + pieces[0]
        self._rest = [pieces[-1]] if pieces[-1] else []
        return [first, *pieces[1:-1]]

    def end(self) -> list[str]:
        """The last line, when the stream ends without an end of line."""
        found = self._split(self._decoder.decode(b"", final=True))
        if self._rest:
            found.append("".join(self._rest))
            self._rest = []
        return found


#: the ends of a line in server-sent events and NDJSON
_ENDS = re.compile("\r\n|\n|\r")


def lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The lines of a byte stream."""
    splitter = LineSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.end()


async def alines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """`lines`, async."""
    splitter = LineSplitter()
    async for chunk in chunks:
        for line in splitter.feed(chunk):
            yield line
    for line in splitter.end():
        yield line
