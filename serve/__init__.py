"""Serving prompts over HTTP (`polyprompt.serve`, `polyprompt serve`).

An ASGI app (Starlette, served by uvicorn) exposing every prompt as a typed endpoint, its compile
step, an OpenAPI document, and an OpenAI-compatible chat endpoint backed by a local model
(docs/serve.md):

    from polyprompt.serve import create_app, serve
    app = create_app(["triage.prompt"])               # any ASGI server can run it
    serve(["triage.prompt"], port=8000)               # or run it with uvicorn here

- `app.py`: `create_app`, the routes; `prompts.py`: the served prompts and the answering step;
  `chat.py`: `/v1/chat/completions`; `openapi.py`: the OpenAPI document; `worker.py`: the
  generation thread and its bounded queue; `middleware.py`: the bearer token and the body limit;
  `errors.py`: errors as JSON; `server.py`: `serve`, uvicorn.

Starlette and uvicorn are imported only inside the functions that serve (the `serve` extra).
"""
from __future__ import annotations

if __name__ != "polyprompt.serve":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.serve, not {__name__!r} (repo root is on sys.path)")

_EXPORTS = {"create_app": "app", "serve": "server", "ServeError": "prompts"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'polyprompt.serve' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
