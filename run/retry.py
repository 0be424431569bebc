"""When to try a request again, and how long to wait: exponential backoff with full jitter.

Retried (as the OpenAI and Anthropic SDKs do, ../shared/design/run-serve.md §2b): HTTP 408, 409,
429 and every 5xx (Anthropic's 529 "overloaded" included), connection errors and timeouts; never
400, 401, 403, 404 or 422. The wait before retry n (0-based) is uniform in
[0, min(cap, base * 2**n)] ("full jitter", so that many clients rate-limited at once spread out),
unless the reply says how long: `retry-after-ms` (milliseconds), then `Retry-After` (seconds, or an
HTTP date). A hint up to `max_retry_after` seconds (120, openai-python's `MAX_RETRY_AFTER_DELAY`)
is waited; a longer one is not retried at all (openai-python's rule too): the call stops with one
line saying how long the provider asked to wait, rather than sleeping for minutes in silence or
asking again sooner than the provider said (`Backoff.refused`).
"""
from __future__ import annotations

import email.utils
import random
import time
from typing import Mapping

import attrs

#: the statuses worth another try
RETRY_STATUSES = frozenset({408, 409, 429})


def retryable_status(status: int) -> bool:
    """Whether a reply with this HTTP status may succeed when sent again."""
    return status in RETRY_STATUSES or status >= 500


@attrs.frozen
class Backoff:
    """The retry schedule: `base` and `cap` (seconds) of the exponential backoff, and the longest
    server-given wait honoured (`max_retry_after`, seconds; a longer hint is not retried)."""

    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 120.0

    def refused(self, headers: Mapping[str, str] | None) -> float | None:
        """The wait the reply asks for when it is longer than `max_retry_after` (no retry then), else None."""
        hint = retry_after(headers) if headers is not None else None
        return hint if hint is not None and hint > self.max_retry_after else None

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None, rand=random.random) -> float:
        """Seconds to wait before retry `attempt` (0 for the first retry): the server's hint when it
        gives one (never more than `max_retry_after`; see `refused`), else full jitter over the
        exponential backoff."""
        hint = retry_after(headers) if headers is not None else None
        if hint is not None:
            return min(hint, self.max_retry_after)
        return rand() * min(self.cap, self.base * 2 ** attempt)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a reply asks for, in seconds: `retry-after-ms`, else `Retry-After` as seconds or as
    an HTTP date (relative to `now`); None when absent or unreadable. Never negative."""
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return max(0.0, ms / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(value: str | None) -> float | None:
    """A finite, non-negative number of the header, else None."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and 0 <= number < float("inf") else None
