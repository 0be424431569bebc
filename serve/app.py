"""The ASGI app of `polyprompt serve` (Starlette): routes, limits, authentication, JSON errors.

    app = create_app(["triage.prompt"], target="hf-family:smollm2", api_key="s3cret")
    # uvicorn.run(app, host="127.0.0.1", port=8000)   or   polyprompt.serve.serve([...])

Routes (docs/serve.md): `POST /prompts/{name}`, `POST /prompts/{name}/compile?target=T`,
`GET /openapi.json`, `GET /healthz`, `POST /v1/chat/completions`, `GET /v1/models`.
Local generation runs in one worker thread behind a bounded queue (serve/worker.py); compiling runs
on the event loop (a millisecond or less). Middleware, outermost first: the bearer token, the body
limit, then Starlette's, whose error handlers answer every error as JSON (serve/errors.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import Any, Sequence

from .errors import ApiError, handlers, json_response
from .prompts import PromptSet, answer, report_json
from .worker import Worker

__all__ = ["DEFAULT_MODEL_TARGET", "DEFAULT_QUEUE_SIZE", "create_app"]

#: the model `/v1/chat/completions` runs when none is named: the embedded SmolLM2 (run/local.py)
DEFAULT_MODEL_TARGET = "hf-family:smollm2"
#: requests that may wait for or hold the generation thread before the next gets a 429
DEFAULT_QUEUE_SIZE = 16


class _State:
    """What the routes share: the prompts, the targets, the worker and the API client."""

    def __init__(self, prompts: PromptSet | None, target: str, model: str, worker: Worker, secured: bool):
        self.prompts, self.target, self.model, self.worker, self.secured = prompts, target, model, worker, secured
        self.client_box: dict[str, Any] = {}
        self._openapi: bytes | None = None

    def prompts_or_404(self) -> PromptSet:
        """The prompts; 404 when the server serves none (chat only)."""
        if self.prompts is None:
            raise ApiError(404, "this server serves no prompt file", "unknown_prompt")
        return self.prompts

    def openapi(self) -> bytes:
        """The OpenAPI document, built on first request."""
        if self._openapi is None:
            from .. import __version__
            from .openapi import document
            from .errors import json_bytes

            empty = type("NoPrompts", (), {"entries": {}})()
            self._openapi = json_bytes(document(self.prompts or empty, self.target, self.secured, __version__))
        return self._openapi


async def read_json(request) -> Any:
    """The request's JSON body; 400 when it is not JSON, 415 when it is sent as another media type."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", "") and not kind.endswith("+json"):
        raise ApiError(415, f"send the body as application/json, not {kind}", "unsupported_media_type")
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text", "invalid_json") from None
    except json.JSONDecodeError as err:
        raise ApiError(400, f"the request body is not JSON: {err.msg} at line {err.lineno} column {err.colno}",
                       "invalid_json") from None
    except RecursionError:
        raise ApiError(400, "the request body nests too deep", "invalid_json") from None


def _routes(state: _State) -> list:
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    from . import chat

    async def run_prompt(request):
        name = request.path_params["name"]
        compiled = state.prompts_or_404().compile(name, state.target, await read_json(request))
        reply = await answer(compiled, state.worker, state.client_box)
        if reply.error is not None:
            raise ApiError(502, f"the reply does not parse into the output of `{name}`: {reply.error}",
                           "unparsed_reply", extra={"text": reply.text})
        return json_response(reply.to_json(compiled.target))

    async def compile_prompt(request):
        name = request.path_params["name"]
        prompts = state.prompts_or_404()
        target = request.query_params.get("target") or state.target
        compiled = prompts.compile(name, target, await read_json(request))
        return json_response({"target": compiled.target, "prompt": compiled.prompt, "body": compiled.body,
                              "made_by": compiled.made_by, "report": report_json(compiled.report, prompts.base)})

    async def openapi(_request):
        return Response(state.openapi(), media_type="application/json")

    async def healthz(_request):
        return json_response({"status": "ok", "prompts": list(state.prompts.entries) if state.prompts else [],
                              "target": state.target, "model": state.model,
                              "queue": {"pending": state.worker.pending, "limit": state.worker.limit}})

    async def models(_request):
        return json_response(chat.models(state.model))

    async def completions(request):
        parsed = chat.read_request(await read_json(request))
        compiled = chat.compile_request(parsed, state.model)
        if parsed.stream:
            events = chat.start_stream(parsed, compiled, state.worker, state.model)
            return StreamingResponse(events, media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return json_response(await chat.completion(parsed, compiled, state.worker, state.model))

    return [Route("/prompts/{name}", run_prompt, methods=["POST"]),
            Route("/prompts/{name}/compile", compile_prompt, methods=["POST"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", completions, methods=["POST"])]


def create_app(paths: Sequence[str | os.PathLike] = (), target: str | None = None, api_key: str | None = None,
               max_body: int = 1_000_000, queue_size: int = DEFAULT_QUEUE_SIZE, model: str | None = None, *,
               root: str | None = None):
    """The ASGI app serving every prompt of `paths` (files or folders; may be empty: chat only).

    `model` is the open model of `/v1/chat/completions` (``hf-family:smollm2``, the embedded
    SmolLM2, by default; ``hf:<dir>`` for a model folder, e.g. a fine-tuned student); `target` the
    one `POST /prompts/{name}` answers with (default: `model`) and `compile` compiles for when no
    `?target=` is given. `api_key` makes every request need ``Authorization: Bearer <api_key>``;
    `max_body` caps request bodies (bytes, 413 past it); `queue_size` the generation requests
    waiting or running (429 past it). Raises `serve.prompts.ServeError` when a file has errors.
    """
    from starlette.applications import Starlette

    from .middleware import BearerAuth, BodyLimit

    if max_body < 1:
        raise ValueError("max_body is at least 1 byte")
    model = model or DEFAULT_MODEL_TARGET
    prompts = PromptSet(paths, root=root) if paths else None
    worker = Worker(queue_size)
    state = _State(prompts, target or model, model, worker, bool(api_key))

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await asyncio.to_thread(worker.close)  # uvicorn has let the requests in flight finish

    app = Starlette(routes=_routes(state), exception_handlers=handlers(), lifespan=lifespan)
    app.state.polyprompt = state
    wrapped: Any = BodyLimit(app, max_body)
    if api_key:
        wrapped = BearerAuth(wrapped, api_key)
    return _Outer(wrapped, app)


class _Outer:
    """The middleware-wrapped app, with the Starlette app underneath reachable as `.app` (its routes,
    its state)."""

    def __init__(self, asgi, app):
        self._asgi, self.app = asgi, app

    async def __call__(self, scope, receive, send):
        await self._asgi(scope, receive, send)

    @property
    def state(self):
        """The Starlette app's state (`state.polyprompt` holds the prompts and the worker)."""
        return self.app.state

