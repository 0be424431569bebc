"""Sending a compiled body to its API target with httpx, sync or async, and reading the typed answer.

    >>> from polyprompt.run.api import Client
    >>> with Client() as client:                      # doctest: +SKIP
    ...     result = client.send(pf.compile("anthropic", {"ticket": "..."}))
    ...     result.value, result.usage, result.latency_ms

`Client.send` / `asend` POST the exact compiled body (run/providers.py says where and with which
credentials), retry what may succeed on another try (run/retry.py), and give an `ApiResult`: the
value parsed into the prompt's output type, the text, typed tool calls, usage and latency.
`stream` / `astream` give the text as it arrives, then the same result. Failures are one
`ApiError` each (run/errors.py), without a key in it. docs/run.md.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any, AsyncIterator, Iterable, Iterator, Mapping


from ..backends.extras import require
from . import limits, providers, stream as streams
from .errors import ApiError, one_line
from .limits import DEFAULT_MAX_REPLY_BYTES, ReplyTooLarge
from .providers import Call, HttpRequest
from .results import (ApiResult, final as _final, reply_or_error, result_of, too_large, transport_error,
                      wait_refused)
from .retry import Backoff

__all__ = ["ApiError", "ApiResult", "AsyncStream", "Client", "Stream", "asend", "send"]


class Client:
    """Sends compiled bodies to API targets. `timeout` (seconds, per connect/read/write), `max_retries`
    (extra attempts on 408/409/429/5xx, connection errors and timeouts), `base_url` (replaces every
    provider's, e.g. an OpenAI-compatible server or a test server), `env` (where keys are read;
    default `os.environ`), `transport` (an httpx transport), `backoff` (a `retry.Backoff`),
    `max_reply_bytes` (the most a reply may hold, plain or streamed; a larger one is an ApiError
    and is not read further; default 32 MiB), `anthropic_betas` (beta feature names sent to
    Anthropic as `anthropic-beta: a,b`; none of polyprompt's own bodies needs one). Thread-safe
    for `send`; one event loop for `asend`. Use it as a context manager, or `close()`."""

    def __init__(self, *, timeout: float = 60.0, max_retries: int = 4, base_url: str | None = None,
                 env: Mapping[str, str] | None = None, transport: Any = None, backoff: Backoff | None = None,
                 max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES, anthropic_betas: Iterable[str] = ()):
        require("api", "running a prompt on an API target")
        if max_retries < 0 or not timeout > 0 or max_reply_bytes < 1:
            raise ValueError(f"Client: max_retries must be >= 0, timeout > 0 and max_reply_bytes >= 1 "
                             f"(got {max_retries}, {timeout}, {max_reply_bytes})")
        self.timeout, self.max_retries, self.base_url = timeout, max_retries, base_url
        self.max_reply_bytes = max_reply_bytes
        self.anthropic_betas = providers.beta_names(anthropic_betas)
        self.env = os.environ if env is None else env
        self.backoff = backoff or Backoff()
        self._transport = transport
        self._lock = threading.Lock()  # threads sharing a client make one connection pool
        self._sync: Any = None
        self._async: Any = None
        self._google: Any = None

    def __repr__(self) -> str:
        return f"Client(timeout={self.timeout}, max_retries={self.max_retries}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ lifecycle

    def _http(self):
        with self._lock:
            if self._sync is None:
                import httpx

                self._sync = httpx.Client(timeout=self.timeout, transport=self._transport, follow_redirects=False)
            return self._sync

    def _ahttp(self):
        if self._async is None:
            import httpx

            self._async = httpx.AsyncClient(timeout=self.timeout, transport=self._transport, follow_redirects=False)
        return self._async

    def close(self) -> None:
        """Close the sync connection pool."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        """Close the async connection pool (and the sync one)."""
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ one call

    def _call(self, compiled) -> Call:
        kind = providers.kind_of(compiled)
        google = None
        if kind == "vertex":
            from .auth import GoogleAuth

            with self._lock:
                if self._google is None:
                    self._google = GoogleAuth(self.env)
                google = self._google
        return Call(kind, compiled.body, compiled.backend.options, self.base_url, google,
                    self.anthropic_betas if kind == "anthropic" else ())

    def endpoint_settings(self) -> dict:
        """The client's settings that change an answer without being in the body (the base URL,
        Anthropic betas): part of a reply cache key (run/bulk.py `endpoint`)."""
        settings: dict = {"base_url": self.base_url} if self.base_url else {}
        if self.anthropic_betas:
            settings["anthropic_betas"] = list(self.anthropic_betas)
        return settings

    def send(self, compiled) -> ApiResult:
        """POST `compiled.body` to its target and read the answer; ApiError when it fails."""
        call, start = self._call(compiled), time.perf_counter()
        for attempt in range(self.max_retries + 1):
            request = providers.http_request(call, False, self.env)
            outcome = self._attempt(request)
            if isinstance(outcome, ApiError):
                time.sleep(self._wait(outcome, attempt))
                continue
            return result_of(compiled, outcome, start, attempt + 1)
        raise AssertionError("unreachable")

    async def asend(self, compiled) -> ApiResult:
        """`send`, async (httpx.AsyncClient); Vertex's token refresh runs in a thread."""
        call, start = self._call(compiled), time.perf_counter()
        for attempt in range(self.max_retries + 1):
            request = await self._arequest(call, False)
            outcome = await self._aattempt(request)
            if isinstance(outcome, ApiError):
                await asyncio.sleep(self._wait(outcome, attempt))
                continue
            return result_of(compiled, outcome, start, attempt + 1)
        raise AssertionError("unreachable")

    def _wait(self, error: ApiError, attempt: int) -> float:
        """Seconds to wait before trying again after `error`; raises the error to give up: not
        retryable, the last attempt, or a reply asking for a longer wait than `max_retry_after`."""
        refused = self.backoff.refused(error.headers) if error.retryable else None
        if refused is not None:
            raise wait_refused(error, refused, self.backoff.max_retry_after)
        if not error.retryable or attempt == self.max_retries:
            raise _final(error, attempt)
        return self.backoff.delay(attempt, error.headers)

    async def _arequest(self, call: Call, stream: bool) -> HttpRequest:
        if call.provider == "vertex":  # google-auth refreshes with a blocking HTTP call
            return await asyncio.to_thread(providers.http_request, call, stream, self.env)
        return providers.http_request(call, stream, self.env)

    def _attempt(self, request: HttpRequest) -> dict | ApiError:
        """One request: the reply JSON, or the ApiError it comes to (raised by the caller, outside
        any `except`, so that no httpx exception is chained to it)."""
        import httpx

        failure: ApiError | None = None
        http = self._http()
        try:
            response = http.send(http.build_request(request.method, request.url, headers=request.headers,
                                                    content=request.content), stream=True)
            try:
                content = limits.read_all(response, self.max_reply_bytes)
            finally:
                response.close()
        except httpx.HTTPError as err:
            failure = transport_error(request, err, self.timeout)
        except ReplyTooLarge as err:
            failure = too_large(request, err, response.status_code)
        if failure is not None:
            return failure
        return reply_or_error(request, response.status_code, response.headers, content)

    async def _aattempt(self, request: HttpRequest) -> dict | ApiError:
        import httpx

        failure: ApiError | None = None
        http = self._ahttp()
        try:
            response = await http.send(http.build_request(request.method, request.url, headers=request.headers,
                                                          content=request.content), stream=True)
            try:
                content = await limits.aread_all(response, self.max_reply_bytes)
            finally:
                await response.aclose()
        except httpx.HTTPError as err:
            failure = transport_error(request, err, self.timeout)
        except ReplyTooLarge as err:
            failure = too_large(request, err, response.status_code)
        if failure is not None:
            return failure
        return reply_or_error(request, response.status_code, response.headers, content)

    # ------------------------------------------------------------------ streams

    def stream(self, compiled) -> "Stream":
        """The answer as it arrives: iterate the `Stream` for text deltas; its `result` is the
        `ApiResult` (the gathered reply, parsed) once the stream ends."""
        return Stream(self, compiled)

    def astream(self, compiled) -> "AsyncStream":
        """`stream`, async: `async for delta in client.astream(c)`, then `.result`."""
        return AsyncStream(self, compiled)


class Stream:
    """A streamed answer: iterating yields text deltas; `result` (after the end) is the ApiResult.
    Retried like `send` until the first byte of a 2xx reply; an error after that raises ApiError."""

    def __init__(self, client: Client, compiled):
        self._client, self._compiled = client, compiled
        self.result: ApiResult | None = None

    def __iter__(self) -> Iterator[str]:
        client, compiled = self._client, self._compiled
        call, start = client._call(compiled), time.perf_counter()
        for attempt in range(client.max_retries + 1):
            request = providers.http_request(call, True, client.env)
            opened = _open_sync(client, request)
            if isinstance(opened, ApiError):
                time.sleep(client._wait(opened, attempt))
                continue
            gatherer = streams.GATHERERS[call.provider]()
            try:
                yield from _read_sync(request, opened, gatherer, client)
            finally:
                opened.close()
            self.result = result_of(compiled, _gathered(request, gatherer), start, attempt + 1)
            return

    def text(self) -> str:
        """Consume the stream; the whole text."""
        return "".join(self)


class AsyncStream:
    """`Stream`, async: `async for` yields text deltas; `result` after the end."""

    def __init__(self, client: Client, compiled):
        self._client, self._compiled = client, compiled
        self.result: ApiResult | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        client, compiled = self._client, self._compiled
        call, start = client._call(compiled), time.perf_counter()
        for attempt in range(client.max_retries + 1):
            request = await client._arequest(call, True)
            opened = await _open_async(client, request)
            if isinstance(opened, ApiError):
                await asyncio.sleep(client._wait(opened, attempt))
                continue
            gatherer = streams.GATHERERS[call.provider]()
            try:
                async for delta in _read_async(request, opened, gatherer, client):
                    yield delta
            finally:
                await opened.aclose()
            self.result = result_of(compiled, _gathered(request, gatherer), start, attempt + 1)
            return


def _open_sync(client: Client, request: HttpRequest):
    """The open streamed response (2xx), or the ApiError of the attempt."""
    import httpx

    failure: ApiError | None = None
    try:
        response = client._http().send(client._http().build_request(
            request.method, request.url, headers=request.headers, content=request.content), stream=True)
    except httpx.HTTPError as err:
        failure = transport_error(request, err, client.timeout)
    if failure is not None:
        return failure
    if response.status_code >= 300:
        try:
            content = limits.read_all(response, client.max_reply_bytes)
        except (httpx.HTTPError, ReplyTooLarge):
            content = b""  # the status says enough
        response.close()
        return reply_or_error(request, response.status_code, response.headers, content)
    try:
        limits.check_declared(response.headers, client.max_reply_bytes)
    except ReplyTooLarge as err:
        response.close()
        return too_large(request, err, response.status_code)
    return response


async def _open_async(client: Client, request: HttpRequest):
    import httpx

    failure: ApiError | None = None
    http = client._ahttp()
    try:
        response = await http.send(http.build_request(request.method, request.url, headers=request.headers,
                                                      content=request.content), stream=True)
    except httpx.HTTPError as err:
        failure = transport_error(request, err, client.timeout)
    if failure is not None:
        return failure
    if response.status_code >= 300:
        try:
            content = await limits.aread_all(response, client.max_reply_bytes)
        except (httpx.HTTPError, ReplyTooLarge):
            content = b""  # the status says enough
        await response.aclose()
        return reply_or_error(request, response.status_code, response.headers, content)
    try:
        limits.check_declared(response.headers, client.max_reply_bytes)
    except ReplyTooLarge as err:
        await response.aclose()
        return too_large(request, err, response.status_code)
    return response


def _stream_failure(request: HttpRequest, err: Exception, response, client: Client) -> ApiError:
    """The one-line error of a stream that broke off: the connection, the size bound or the events."""
    if isinstance(err, ReplyTooLarge):
        return too_large(request, err, response.status_code)
    if isinstance(err, streams.StreamError):
        return ApiError(f"{request.provider}: the stream failed: {one_line(str(err))}",
                        provider=request.provider, status=200, secrets=request.secrets)
    return transport_error(request, err, client.timeout, streaming=True)


def _read_sync(request: HttpRequest, response, gatherer, client: Client) -> Iterator[str]:
    import httpx

    failure: ApiError | None = None
    try:
        for event, data in _decoded(request, limits.counted(response.iter_bytes(), client.max_reply_bytes)):
            if event is None and data is _DONE:
                gatherer.done = True
                break
            delta = gatherer.feed(event, data)
            if delta:
                yield delta
    except (httpx.HTTPError, ReplyTooLarge, streams.StreamError) as err:
        failure = _stream_failure(request, err, response, client)
    if failure is not None:
        raise failure


async def _read_async(request: HttpRequest, response, gatherer, client: Client) -> AsyncIterator[str]:
    import httpx

    failure: ApiError | None = None
    try:
        async for event, data in _adecoded(request, limits.acounted(response.aiter_bytes(), client.max_reply_bytes)):
            if event is None and data is _DONE:
                gatherer.done = True
                break
            delta = gatherer.feed(event, data)
            if delta:
                yield delta
    except (httpx.HTTPError, ReplyTooLarge, streams.StreamError) as err:
        failure = _stream_failure(request, err, response, client)
    if failure is not None:
        raise failure


def _gathered(request: HttpRequest, gatherer) -> dict:
    """The reply a stream gathered; ApiError when the stream stopped before its last event (a cut
    connection: the text so far is not the answer) or cannot be put together."""
    failure: ApiError | None = None
    if not gatherer.done:
        failure = ApiError(f"{request.provider}: the stream ended before the reply was complete",
                           provider=request.provider, status=200)
    else:
        try:
            return gatherer.reply()
        except streams.StreamError as err:
            failure = ApiError(f"{request.provider}: the stream failed: {one_line(str(err))}",
                               provider=request.provider, status=200, secrets=request.secrets)
    raise failure


#: the end of an OpenAI-style stream (`data: [DONE]`)
_DONE = object()


def _decoded(request: HttpRequest, chunks) -> Iterator[tuple[str | None, Any]]:
    """(event name, JSON) of a sync stream (its bytes, counted) in its wire format."""
    if request.stream == "aws-eventstream":
        parser = streams.AwsEventStream()
        for chunk in chunks:
            yield from parser.feed(chunk)
        return
    lines = limits.lines(chunks)
    if request.stream == "ndjson":
        for line in lines:
            if line.strip():
                yield None, streams.decode(line)
    else:
        for event, data in streams.sse_events(lines):
            yield (None, _DONE) if data.strip() == "[DONE]" else (event, streams.decode(data))


async def _adecoded(request: HttpRequest, chunks) -> AsyncIterator[tuple[str | None, Any]]:
    """(event name, JSON) of an async stream (its bytes, counted) in its wire format."""
    if request.stream == "aws-eventstream":
        parser = streams.AwsEventStream()
        async for chunk in chunks:
            for item in parser.feed(chunk):
                yield item
        return
    sse = streams.SSEParser()
    async for line in limits.alines(chunks):
        if request.stream == "ndjson":
            if line.strip():
                yield None, streams.decode(line)
            continue
        event = sse.line(line)
        if event is not None:
            yield (None, _DONE) if event[1].strip() == "[DONE]" else (event[0], streams.decode(event[1]))
    last = None if request.stream == "ndjson" else sse.end()
    if last is not None and last[1].strip() != "[DONE]":
        yield last[0], streams.decode(last[1])


def send(compiled, **options) -> ApiResult:
    """Send one compile with a client made for it (`options`: those of `Client`) and close it:
    `polyprompt.send(pf.compile("anthropic", inputs))`. Reuse a `Client` for many calls."""
    with Client(**options) as client:
        return client.send(compiled)


async def asend(compiled, **options) -> ApiResult:
    """`send`, async: `await polyprompt.asend(compiled)`."""
    async with Client(**options) as client:
        return await client.asend(compiled)
