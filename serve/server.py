"""`serve`: run the app with uvicorn (what `polyprompt serve` calls).

uvicorn stops gracefully: on SIGINT or SIGTERM it stops accepting connections, lets the requests
in flight finish (up to `graceful_timeout` seconds), then runs the app's shutdown, which lets the
generation thread finish its job.
"""
from __future__ import annotations

import os
from typing import Sequence

from .app import DEFAULT_QUEUE_SIZE, create_app

__all__ = ["API_KEY_ENV", "serve"]

#: the environment variable read for the API key when none is given
API_KEY_ENV = "POLYPROMPT_API_KEY"


def serve(paths: Sequence[str | os.PathLike] = (), *, target: str | None = None, host: str = "127.0.0.1",
          port: int = 8000, api_key: str | None = None, model: str | None = None, max_body: int = 1_000_000,
          queue_size: int = DEFAULT_QUEUE_SIZE, graceful_timeout: float = 30.0, log_level: str = "info") -> None:
    """Serve every prompt of `paths` on host:port until interrupted (see `create_app` for the options).

    `api_key` defaults to the environment variable POLYPROMPT_API_KEY (unset or empty: no key).
    """
    import uvicorn

    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    app = create_app(paths, target=target, api_key=key, max_body=max_body, queue_size=queue_size, model=model)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=graceful_timeout,
                server_header=False)
