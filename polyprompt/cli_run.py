"""`polyprompt run` on an API target (docs/run.md): the command's options are in polyprompt/cli.py,
which hands a compile for an API target to `run_api` (an open model runs there, docs/model-run.md).

Exit codes of a run on an API target: 0 the answer (parsed into the output type); 1 the provider
failed (an HTTP error with its message, a timeout, no connection, a reply that is not JSON) or the
reply does not fit the output type (its text is printed); 2 the setup is wrong (a usage error, a
missing key, credentials the provider refused, no region or project, a missing extra).
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from .run.limits import DEFAULT_MAX_REPLY_BYTES


def api_options(command: Any) -> Any:
    """The API client's options of `polyprompt run` (one prompt or every row): the command receives
    `base_url`, `timeout`, `retries` and `max_reply_bytes`."""
    options = [
        click.option("--base-url", metavar="URL", help="API targets: send to this server instead of the provider's "
                     "(OpenAI-compatible, Ollama, a proxy)."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
                     help="API targets: seconds to wait to connect, and between bytes of the reply."),
        click.option("--retries", type=click.IntRange(min=0), default=4, show_default=True,
                     help="API targets: extra attempts on 408/409/429/5xx, timeouts and connection errors."),
        click.option("--max-reply-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_REPLY_BYTES,
                     show_default=True, help="API targets: the largest reply read, plain or streamed; a larger one "
                     "is an error, not retried."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def run_api(compiled, *, stream: bool, base_url: str | None, timeout: float, retries: int, as_json: bool,
            max_reply_bytes: int) -> None:
    """Send the compile, print the answer; exit 1 (provider) or 2 (setup) on an ApiError."""
    from .run.api import ApiError, Client

    failure = None
    client = Client(timeout=timeout, max_retries=retries, base_url=base_url, max_reply_bytes=max_reply_bytes)
    try:
        result = _stream(client, compiled, as_json) if stream else client.send(compiled)
    except ApiError as err:
        failure = err
    finally:
        client.close()
    if failure is not None:
        click.echo(f"error: {failure}", err=True)
        sys.exit(2 if failure.kind in ("config", "auth") else 1)
    _print_result(compiled, result, as_json, streamed=stream)


def run_local(compiled, *, max_new_tokens: int | None, free: bool, as_json: bool) -> None:
    """Generate on the local open model of the compile and print the answer; exit 1 when the model
    cannot be had."""
    from .local_answers import quiet_transformers
    from .run import local

    quiet_transformers()
    try:
        reply = local.generate(compiled, max_new_tokens=max_new_tokens, choice=not free)
    except local.ModelUnavailable as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    print_local(reply, as_json)


def _stream(client, compiled, as_json: bool):
    """Show the deltas as they arrive (stdout, or stderr when stdout is for JSON); the result."""
    streamed = client.stream(compiled)
    for delta in streamed:
        click.echo(delta, nl=False, err=as_json)
        (sys.stderr if as_json else sys.stdout).flush()
    click.echo("", err=as_json)
    return streamed.result


def _print_result(compiled, result, as_json: bool, streamed: bool) -> None:
    """The value (text as is, else JSON) or tool calls; with --json every field; exit 1 when the
    reply did not parse."""
    if as_json:
        click.echo(json.dumps({"target": compiled.target, **result.to_json()}, indent=2, ensure_ascii=False))
    elif result.tool_calls:
        calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls]
        click.echo(json.dumps({"tool_calls": calls}, indent=2, ensure_ascii=False))
    elif result.parse_error:
        if not streamed:
            click.echo(result.text or "")
    elif not streamed or not isinstance(result.value, str):
        value = result.value
        click.echo(value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False))
    if result.parse_error:
        click.echo(f"error: {result.parse_error}", err=True)
        sys.exit(1)


def print_local(reply, as_json: bool) -> None:
    """Print an open model's reply (run/local.py): the value, or with --json every field; exit 1
    when it did not parse."""
    if as_json:
        out = {"text": reply.text, "value": reply.value, "finish_reason": reply.finish_reason,
               "tokens": list(reply.token_ids)}
        if reply.scores is not None:
            out["scores"] = reply.scores
        if reply.error:
            out["error"] = reply.error
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    elif reply.error:
        click.echo(reply.text)
    else:
        value = reply.value
        click.echo(value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False))
    if reply.error:
        click.echo(f"error: {reply.error}", err=True)
        sys.exit(1)
