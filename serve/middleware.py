"""ASGI middleware of the server: the bearer token and the request body limit.

Both are plain ASGI (no Starlette request object): they answer before any route runs, and the body
limit counts the bytes as they arrive, so a body without a Content-Length (chunked) is stopped at
the limit too, never read whole into memory.
"""
from __future__ import annotations

import hmac

from .errors import BodyTooLarge, send_error

__all__ = ["BearerAuth", "BodyLimit"]


class BearerAuth:
    """Every HTTP request must carry ``Authorization: Bearer <key>``: 401 otherwise.

    The key is compared in constant time (`hmac.compare_digest`), so the time of an answer does
    not tell how much of a guessed key was right.
    """

    def __init__(self, app, key: str):
        self.app, self.key = app, f"Bearer {key}".encode("utf-8")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = b""
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                given = value
                break
        if not hmac.compare_digest(given, self.key):
            message = "a valid API key is needed: send `Authorization: Bearer <key>`" if given else \
                "missing API key: send `Authorization: Bearer <key>`"
            return await send_error(send, 401, message, "invalid_api_key", {"WWW-Authenticate": "Bearer"})
        return await self.app(scope, receive, send)


class BodyLimit:
    """Request bodies of more than `limit` bytes are refused with 413: by their Content-Length
    before any byte is read, or when the bytes read pass the limit."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await send_error(send, 400, "the Content-Length header is not a number", "bad_request")
                if declared > self.limit:
                    return await self._too_large(send)
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send):
        await send_error(send, 413, f"the request body is larger than the limit of {self.limit} bytes",
                         "request_too_large")
