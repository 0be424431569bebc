"""The one error of a run on an API target, and the redaction that keeps secrets out of every message.

An `ApiError` is one line that says what failed and what to do: a missing key names the
environment variable, a 401/403 says the key was refused, a 400 quotes the provider's own error
message. It never holds a secret: every message goes through `redact`, which replaces each
secret the client used (keys, tokens, signatures) with `***`.
"""
from __future__ import annotations

from typing import Iterable

#: shortest value treated as a secret: shorter ones would redact ordinary words
_MIN_SECRET = 6


class ApiError(Exception):
    """A request to a provider failed: one clear line; `status` (HTTP status, None when no reply
    came), `provider` (the target's kind, e.g. "anthropic"), `retryable` (whether trying again may
    succeed: 408/409/429/5xx, connection errors, timeouts). Its text never contains a key."""

    def __init__(self, message: str, *, provider: str, status: int | None = None, retryable: bool = False,
                 kind: str = "provider", secrets: Iterable[str] = (), headers: dict[str, str] | None = None,
                 wait: float | None = None):
        self.provider, self.status, self.retryable = provider, status, retryable
        #: seconds the provider asked to wait, when that was longer than the client waits (no retry)
        self.wait = wait
        #: the reply's retry hints (`retry-after`, `retry-after-ms`), read before trying again
        self.headers = headers or {}
        #: "config" (a missing key, region, project or extra: the user's setup) or "provider" (the call failed)
        self.kind = kind
        super().__init__(redact(message, secrets))

    def __repr__(self) -> str:
        return f"ApiError({str(self)!r}, provider={self.provider!r}, status={self.status!r})"

    def __reduce__(self):  # pickles (to a worker process) with its fields
        return (_rebuild, (str(self), self.provider, self.status, self.retryable, self.kind, self.wait))


def _rebuild(message: str, provider: str, status: int | None, retryable: bool, kind: str,
             wait: float | None = None) -> ApiError:
    return ApiError(message, provider=provider, status=status, retryable=retryable, kind=kind, wait=wait)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret of at least six characters replaced by `***`, longest first (a key
    that contains another is replaced whole)."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def one_line(text: str, limit: int = 500) -> str:
    """A provider's message on one line (newlines folded), cut at `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
