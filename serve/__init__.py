"""Serving prompts over HTTP (`polyprompt.serve`, `polyprompt serve`).

An ASGI app (Starlette, served by uvicorn) exposing every prompt as a typed endpoint, its compile
step, an OpenAPI document, and an OpenAI-compatible chat endpoint backed by a local model.
Starlette and uvicorn are imported only inside the functions that serve (the `serve` extra).
"""
from __future__ import annotations

if __name__ != "polyprompt.serve":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.serve, not {__name__!r} (repo root is on sys.path)")
