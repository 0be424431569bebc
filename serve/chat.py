"""`POST /v1/chat/completions` and `GET /v1/models`: OpenAI's Chat Completions on a local model.

The request fields read are OpenAI's: `messages`, `model` (any name: one model is served, and the
answer names it), `max_tokens` / `max_completion_tokens`, `temperature` (OpenAI's default 1;
0 is greedy), `top_p`, `stop` (a string or up to 4), `seed`, `n` (1 only), `stream` and
`stream_options.include_usage`. Fields that would change the answer in a way the local model
cannot honour (`tools`, `response_format`, `logprobs`...) are refused with a 400 naming them;
fields that change nothing here (`user`, `metadata`, `store`...) are accepted. The messages are
compiled by run/chat.py, so they are data, never control tokens.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import attrs

from .errors import ApiError, json_bytes
from .worker import QueueFull, Worker

__all__ = ["ChatRequest", "completion", "models", "read_request", "stream_events"]

#: fields the local model cannot honour: refused rather than ignored
UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "response_format", "logprobs",
               "top_logprobs", "logit_bias", "audio", "modalities", "prediction", "web_search_options")
#: the longest reply a request may ask for
MAX_TOKENS_CAP = 4096


@attrs.frozen
class ChatRequest:
    """A checked Chat Completions request."""

    messages: list
    sampling: Any  # run.chat.Sampling
    stream: bool
    include_usage: bool


def _bad(message: str, param: str | None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code, param=param)


def _number(body: dict, key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _bad(f"`{key}` must be a number from {low} to {high}, got {json.dumps(value)}", key)
    return float(value)


def _integer(body: dict, key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"`{key}` must be an integer from {low} to {high}, got {json.dumps(value)}", key)
    return value


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
        raise _bad("`stop` is a non-empty string or a list of up to 4 of them", "stop")
    return tuple(stop)


def read_request(body: Any) -> ChatRequest:
    """A Chat Completions request body, checked; ApiError 400 naming the field that is wrong."""
    from ..run.chat import Sampling

    if not isinstance(body, dict):
        raise _bad("the request body is a JSON object", None, "invalid_request")
    for key in UNSUPPORTED:
        if body.get(key) not in (None, False, [], {}):
            raise _bad(f"`{key}` is not supported by this server (a local model without it)", key,
                       "unsupported_parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("`messages` is a non-empty list of messages", "messages", "invalid_request")
    n = body.get("n")
    if n not in (None, 1):
        raise _bad(f"only `n: 1` is supported, got {json.dumps(n)}", "n", "unsupported_value")
    stream = body.get("stream")
    if stream not in (None, True, False):
        raise _bad("`stream` is a boolean", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("`stream_options` is an object", "stream_options")
    limit = _integer(body, "max_completion_tokens", 1, MAX_TOKENS_CAP)
    limit = limit if limit is not None else _integer(body, "max_tokens", 1, MAX_TOKENS_CAP)
    temperature = _number(body, "temperature", 0, 2)
    sampling = Sampling(temperature=1.0 if temperature is None else temperature, top_p=_number(body, "top_p", 0, 1),
                        max_tokens=limit, stop=_stop(body), seed=_integer(body, "seed", -2**63, 2**63 - 1))
    return ChatRequest(messages, sampling, bool(stream), bool((options or {}).get("include_usage")))


def compile_request(request: ChatRequest, target: str):
    """The request's messages compiled for the served model; 400 listing every problem of the messages."""
    from ..compiler.inputs import InputError
    from ..run.chat import compile_chat
    from ..session import CompileError

    try:
        return compile_chat(request.messages, target, request.sampling)
    except InputError as err:
        problems = "; ".join(f"{p.path.replace('history', 'messages', 1)}: {p.message}" for p in err.problems)
        raise _bad(f"invalid messages: {problems}", "messages", "invalid_messages") from None
    except CompileError as err:
        text = "; ".join(d.message for d in err.diagnostics if d.is_error)
        raise _bad(f"the model cannot take these messages: {text}", "messages", "invalid_messages") from None


def _usage(compiled, result) -> dict:
    from ..run.chat import prompt_tokens

    n = prompt_tokens(compiled)
    return {"prompt_tokens": n, "completion_tokens": len(result.token_ids), "total_tokens": n + len(result.token_ids)}


def _head(model: str) -> dict:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}


async def completion(request: ChatRequest, compiled, worker: Worker, model: str) -> dict:
    """The `chat.completion` object of a non-streaming request."""
    from ..run.chat import generate_chat

    result = await _run(worker, generate_chat, compiled)
    return {**_head(model), "object": "chat.completion", "system_fingerprint": None, "choices": [{
        "index": 0, "message": {"role": "assistant", "content": result.text, "refusal": None},
        "logprobs": None, "finish_reason": result.finish_reason}], "usage": _usage(compiled, result)}


async def _run(worker: Worker, fn, *args):
    from .prompts import _on_worker

    return await _on_worker(worker, fn, *args)


def start_stream(request: ChatRequest, compiled, worker: Worker, model: str):
    """Queue a streaming generation now (429 before any byte is sent when the queue is full) and
    return the async iterator of its server-sent events."""
    from ..run.chat import generate_chat

    loop = asyncio.get_running_loop()
    deltas: asyncio.Queue = asyncio.Queue()
    cancel = threading.Event()

    def on_text(text: str) -> None:
        if cancel.is_set():
            raise _Cancelled()  # the client went away: stop generating (transformers lets it through)
        loop.call_soon_threadsafe(deltas.put_nowait, text)

    try:
        future = worker.submit(generate_chat, compiled, on_text)
    except QueueFull as err:
        raise ApiError(429, str(err), "queue_full", headers={"Retry-After": str(err.retry_after)}) from None
    job = asyncio.wrap_future(future)
    job.add_done_callback(_ended(deltas))
    return stream_events(request, compiled, job, deltas, cancel, model)


def _ended(deltas: asyncio.Queue):
    """The job's end: no more text (and its error read, so an abandoned stream logs nothing)."""

    def done(job) -> None:
        if not job.cancelled():
            job.exception()
        deltas.put_nowait(None)

    return done


class _Cancelled(Exception):
    """Raised in the worker thread to stop a generation nobody reads any more."""


def _event(data: Any) -> bytes:
    return b"data: " + (data if isinstance(data, bytes) else json_bytes(data)) + b"\n\n"


async def stream_events(request: ChatRequest, compiled, job, deltas: asyncio.Queue, cancel: threading.Event,
                        model: str):
    """`chat.completion.chunk` events as the text comes, the finish reason, the usage when asked, then
    `data: [DONE]`. An error after the first event is sent as an event with an `error` object (the
    OpenAI SDK raises it), never as a traceback."""
    head = {**_head(model), "object": "chat.completion.chunk", "system_fingerprint": None}

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        body = {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if request.include_usage:
            body["usage"] = None
        return _event(body)

    try:
        yield chunk({"role": "assistant", "content": ""})
        while (text := await deltas.get()) is not None:
            yield chunk({"content": text})
        result = await job
        yield chunk({}, result.finish_reason)
        if request.include_usage:
            yield _event({**head, "choices": [], "usage": _usage(compiled, result)})
        yield _event(b"[DONE]")
    except Exception as err:  # noqa: BLE001 (the stream has started: the error travels as an event)
        from .errors import log

        log.error("streaming reply failed", exc_info=err)
        yield _event({"error": {"message": f"generation failed ({type(err).__name__})", "type": "server_error",
                                "code": "internal_error", "param": None}})
        yield _event(b"[DONE]")
    finally:
        cancel.set()  # a client that stopped reading stops the generation


def models(model: str) -> dict:
    """`GET /v1/models`: the one model served, in OpenAI's list shape."""
    return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "polyprompt"}]}
