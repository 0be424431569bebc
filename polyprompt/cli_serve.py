"""`polyprompt serve`: every prompt of the files as an HTTP endpoint, and an OpenAI-compatible chat
endpoint on a local model (docs/serve.md)."""
from __future__ import annotations

import sys

import click

from .cli_targets import complete_target


@click.command(name="serve")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("-t", "--target", shell_complete=complete_target,
              help="The target `POST /prompts/NAME` answers with, and `compile` compiles for by default "
                   "(default: the --model).")
@click.option("--model", metavar="hf:DIR",
              help="The open model of /v1/chat/completions: hf:<dir>, hf:<file.gguf> or hf-family:smollm2 "
                   "(default: hf-family:smollm2, the embedded SmolLM2-135M-Instruct).")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="The port.")
@click.option("--api-key", envvar="POLYPROMPT_API_KEY", show_envvar=True,
              help="Require `Authorization: Bearer KEY` on every request.")
@click.option("--max-body", default=1_000_000, show_default=True, type=click.IntRange(min=1),
              help="The largest request body accepted, in bytes (413 past it).")
@click.option("--queue", "queue_size", default=16, show_default=True, type=click.IntRange(min=1),
              help="Generation requests waiting or running at once (429 with Retry-After past it).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="uvicorn's log level.")
def serve_cmd(paths, target, model, host, port, api_key, max_body, queue_size, log_level):
    """Serve prompts over HTTP: POST /prompts/NAME (typed answers), POST /prompts/NAME/compile,
    GET /openapi.json, GET /healthz, and POST /v1/chat/completions on a local model.

    FILE... are .prompt files or folders (none: the chat endpoint only). Stop with Ctrl-C: the
    requests in flight finish first. See docs/serve.md.
    """
    from . import backends
    from .backends.extras import MissingExtra, require

    try:
        require("serve", "serving prompts")
    except MissingExtra as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    if model is not None and not model.startswith(backends.MODEL_PREFIXES):
        raise click.UsageError("--model takes an open-model target: hf:<dir>, hf:<file.gguf> or hf-family:smollm2")
    from .local_answers import quiet_transformers
    from .serve.prompts import ServeError
    from .serve.server import serve

    quiet_transformers()
    try:
        serve(paths, target=target, host=host, port=port, api_key=api_key or None, model=model,
              max_body=max_body, queue_size=queue_size, log_level=log_level)
    except ServeError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
