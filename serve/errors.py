"""Errors as JSON: one shape for every error the server sends, never a stack trace.

Every error body is ``{"error": {"message", "type", "code", "param"}}``: the shape of OpenAI's
errors, so the OpenAI SDKs read the `/v1` ones, and the prompt endpoints add ``"problems"``, the
list of every problem found (``[{"path", "message"}]``), e.g. each wrong input at once.
"""
from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["ApiError", "BodyTooLarge", "error_body", "error_response", "json_response"]

log = logging.getLogger("polyprompt.serve")

#: the OpenAI error `type` of each status the server sends
TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
         405: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
         422: "invalid_request_error", 429: "rate_limit_error", 500: "server_error", 501: "not_implemented",
         502: "bad_gateway", 503: "service_unavailable"}


class BodyTooLarge(Exception):
    """The request body went past the limit while it was read (middleware.BodyLimit)."""


class ApiError(Exception):
    """An error answer: its HTTP status, message, code, and the problems and headers that go with it."""

    def __init__(self, status: int, message: str, code: str, *, problems: list[dict] | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.problems, self.param, self.headers, self.extra = problems, param, headers or {}, extra or {}


def error_body(status: int, message: str, code: str, param: str | None = None,
               problems: list[dict] | None = None, extra: dict | None = None) -> dict:
    """The JSON body of an error answer."""
    body: dict[str, Any] = {"error": {"message": message, "type": TYPES.get(status, "invalid_request_error"),
                                      "code": code, "param": param}}
    if problems is not None:
        body["problems"] = problems
    body.update(extra or {})
    return body


def json_bytes(data: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None):
    """A Starlette JSON response (compact, UTF-8)."""
    from starlette.responses import Response

    return Response(json_bytes(data), status_code=status, headers=headers, media_type="application/json")


def error_response(err: ApiError):
    """The answer of an ApiError."""
    return json_response(error_body(err.status, err.message, err.code, err.param, err.problems, err.extra),
                         err.status, err.headers)


async def send_error(send, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
    """Send an error answer from ASGI middleware (before the app has answered)."""
    body = json_bytes(error_body(status, message, code))
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def handlers() -> dict:
    """The app's exception handlers: ApiError, Starlette's HTTP errors, and a catch-all that logs the
    exception and answers 500 with one line (the traceback goes to the server's log only)."""
    from starlette.exceptions import HTTPException

    async def api_error(_request, exc):
        return error_response(exc)

    async def http_error(_request, exc):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return json_response(error_body(exc.status_code, str(exc.detail), code), exc.status_code,
                             getattr(exc, "headers", None))

    async def internal(request, exc):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return json_response(error_body(500, f"internal error ({type(exc).__name__}); the server log has the "
                                              "details", "internal_error"), 500)

    async def too_large(_request, _exc):  # the body passed the limit as it was read (middleware.BodyLimit)
        return json_response(error_body(413, "the request body is larger than the server's limit",
                                        "request_too_large"), 413)

    return {ApiError: api_error, HTTPException: http_error, BodyTooLarge: too_large, Exception: internal}
