"""What one attempt comes to: the `ApiResult` of a reply, or the `ApiError` of a failure.

Errors are mapped to one line each: a 401/403 says the credentials were refused and where they
come from; any other status quotes the provider's own error message (each provider's error body
shape, ../shared/design/run-serve.md §2a); a redirect is not followed (the credentials go only
to the URL they are for); a timeout and a connection error name the host. Secrets are redacted.
"""
from __future__ import annotations

import json
import time
from typing import Any, Mapping
from urllib.parse import urlsplit

import attrs

from .auth import KEY_VARS
from .errors import ApiError, one_line
from .providers import HttpRequest
from .retry import retryable_status

#: reply headers kept on a retryable error, for the wait before the next try
RETRY_HEADERS = ("retry-after", "retry-after-ms")


@attrs.frozen
class ApiResult:
    """A provider's answer: `value` (the reply parsed into the output type; None when it did not
    parse, then `parse_error` says why), `text`, `raw` (the provider's reply JSON), `usage`
    ({"input_tokens", "output_tokens"} or None), `latency_ms` (the whole call, retries included),
    `tool_calls` (`ir.ToolCall`s, their arguments checked against the tool's parameters), and
    `attempts` (how many requests were sent)."""

    value: Any
    text: str | None
    raw: dict
    usage: dict | None
    latency_ms: float
    parse_error: str | None
    tool_calls: list | None
    finish_reason: str | None = None
    attempts: int = 1

    def to_json(self) -> dict:
        """A JSON-ready view: value, text, tool calls, usage, latency, finish reason and the raw reply."""
        calls = None if self.tool_calls is None else [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls]
        return {"value": self.value, "text": self.text, "tool_calls": calls, "parse_error": self.parse_error,
                "finish_reason": self.finish_reason, "usage": self.usage, "latency_ms": round(self.latency_ms, 3),
                "attempts": self.attempts, "raw": self.raw}


def result_of(compiled, raw: dict, start: float, attempts: int) -> ApiResult:
    """The ApiResult of a reply JSON: parsed with the compile's `parse` (the value into the output
    type; on failure the text and tool calls still read, and `parse_error` says why)."""
    from ..compiler.replies import ReplyError
    from ..session.compiled import parse_reply

    latency = (time.perf_counter() - start) * 1000
    error = None
    try:
        reply = compiled.parse(raw)
    except ReplyError as err:
        error = str(err)
        try:
            reply = parse_reply(compiled.backend, raw)
        except ReplyError:
            reply = None
    calls = list(reply.tool_calls) if reply is not None and reply.tool_calls else None
    if calls and error is None:
        error = _tool_call_errors(compiled, calls)
    return ApiResult(value=None if error else (reply.value if reply is not None else None),
                     text=reply.text if reply is not None else None, raw=raw, usage=usage_of(raw),
                     latency_ms=latency, parse_error=error, tool_calls=calls,
                     finish_reason=reply.finish_reason if reply is not None else None, attempts=attempts)


def _tool_call_errors(compiled, calls: list) -> str | None:
    """Why tool calls do not fit the prompt's tools (an unknown tool, arguments against the
    parameters' JSON Schema), or None."""
    import jsonschema

    tools = {t.name: t for t in getattr(compiled.request, "tools", None) or ()}
    problems = []
    for call in calls:
        tool = tools.get(call.name)
        if tool is None:
            problems.append(f"tool call `{call.name}`: the prompt has no such tool")
            continue
        for err in jsonschema.Draft202012Validator(tool.parameters).iter_errors(call.arguments):
            where = "/".join(map(str, err.absolute_path)) or "arguments"
            problems.append(f"tool call `{call.name}`: {where}: {err.message[:200]}")
    return "; ".join(problems) or None


def usage_of(raw: Any) -> dict | None:
    """{"input_tokens", "output_tokens"} from any provider's usage fields, or None."""
    if not isinstance(raw, dict):
        return None
    for key, names in (("usage", ("prompt_tokens", "completion_tokens")), ("usage", ("input_tokens", "output_tokens")),
                       ("usage", ("inputTokens", "outputTokens")),
                       ("usageMetadata", ("promptTokenCount", "candidatesTokenCount")),
                       (None, ("prompt_eval_count", "eval_count"))):
        source = raw if key is None else raw.get(key)
        if isinstance(source, dict) and any(isinstance(source.get(n), int) for n in names):
            return {"input_tokens": int(source.get(names[0]) or 0), "output_tokens": int(source.get(names[1]) or 0)}
    return None


def reply_or_error(request: HttpRequest, status: int, headers: Mapping[str, str], content: bytes) -> dict | ApiError:
    """A 2xx reply's JSON, or the ApiError of the reply (retryable ones carry the retry headers)."""
    provider = request.provider
    if 300 <= status < 400:
        return _error(request, f"HTTP {status}: a redirect to {_host(headers.get('location') or '')} was not "
                               f"followed (credentials go only to {_host(request.url)}); check the base URL", status)
    if status >= 400:
        message = provider_message(content) or _reason(status)
        if status in (401, 403):
            return _error(request, f"HTTP {status}: the credentials were refused ({message}); "
                                   f"check {_credential_source(provider)}", status, kind="auth")
        return _error(request, f"HTTP {status}: {message}", status, retryable=retryable_status(status),
                      headers={k: headers[k] for k in RETRY_HEADERS if k in headers})
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _error(request, f"the reply is not a JSON object ({len(content)} bytes starting "
                               f"{content[:60].decode('utf-8', 'replace')!r})", status)
    return data


def provider_message(content: bytes) -> str | None:
    """The message of a provider's error body: OpenAI/Mistral/Anthropic/Google `error.message`,
    Bedrock `message`, Ollama `error`, FastAPI-style `detail`; None when there is none."""
    try:
        body = json.loads(content)
    except ValueError:
        text = content.decode("utf-8", "replace").strip()
        return one_line(text, 200) if text else None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        found = error.get("message") or error.get("type")
        kind = error.get("type") or error.get("status")
        return one_line(f"{kind}: {found}" if kind and found and kind != found else str(found or error))
    for key in ("message", "Message", "error", "detail"):
        if body.get(key):
            value = body[key]
            return one_line(value if isinstance(value, str) else json.dumps(value))
    return None


def transport_error(request: HttpRequest, err: Exception, timeout: float, streaming: bool = False) -> ApiError:
    """The ApiError of an httpx failure: a timeout or a connection error (both retryable before a
    stream starts), named by host; httpx's own text is redacted."""
    import httpx

    host = _host(request.url)
    if isinstance(err, httpx.TimeoutException):
        what = {"ConnectTimeout": "connecting", "WriteTimeout": "sending the request", "PoolTimeout": "waiting for a "
                "connection"}.get(type(err).__name__, "waiting for the reply")
        text = f"timed out after {timeout:g} s {what} ({host}); raise --timeout or check the server"
    else:
        text = f"cannot reach {host}: {one_line(str(err) or type(err).__name__, 200)}"
    return _error(request, text, None, retryable=not streaming)


def too_large(request: HttpRequest, err: Exception, status: int | None) -> ApiError:
    """The ApiError of a reply over the client's `max_reply_bytes` (not retried: it would be as large)."""
    return _error(request, str(err), status)


def wait_refused(error: ApiError, wait: float, longest: float) -> ApiError:
    """The ApiError of a retryable error whose reply asks for a longer wait than the client makes:
    no retry (sooner would be refused again); the line says how long the provider asked for."""
    return ApiError(f"{error}; the provider asked to wait {_seconds(wait)} s before trying again, longer than the "
                    f"{_seconds(longest)} s this client waits (Backoff(max_retry_after=...)): try again later",
                    provider=error.provider, status=error.status, kind=error.kind, wait=wait)


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:g}"


def final(error: ApiError, attempt: int) -> ApiError:
    """The error raised after the last try: it says how many attempts were made."""
    if attempt == 0 or not error.retryable:
        return error
    return ApiError(f"{error} (after {attempt + 1} attempts)", provider=error.provider, status=error.status,
                    retryable=True, kind=error.kind)


def _error(request: HttpRequest, text: str, status: int | None, retryable: bool = False,
           kind: str = "provider", headers: dict | None = None) -> ApiError:
    return ApiError(f"{request.provider}: {text}", provider=request.provider, status=status, retryable=retryable,
                    kind=kind, secrets=request.secrets, headers=headers)


def _credential_source(provider: str) -> str:
    if provider == "vertex":
        return ("the application-default credentials (gcloud auth application-default login) and their access, "
                "or in express mode GOOGLE_API_KEY")
    if provider == "bedrock-converse":
        return "the AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE...) and their Bedrock access"
    return " or ".join(KEY_VARS[provider])


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url[:80] or "an unnamed host"


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "no message"
