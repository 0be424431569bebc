"""Bulk runs and provider batch files on the command line (docs/run-bulk.md).

- `bulk_options`: the options `polyprompt run` takes to run every row of a dataset (`--data` or
  `--dataset`, `--split`, `--concurrency`, `-o`, `--no-cache`, `--restart`...), and `run_bulk`,
  what `run` calls when one of them names rows: the rows sent with `run/bulk.py`, the results
  written as JSONL. (`run` itself lives with the API client, polyprompt/cli_run.py.)
- `polyprompt batch`: the input file of a provider's batch engine, and `--read` its output file
  back into typed values.

How `run` takes the bulk options (in polyprompt/cli_run.py, which owns `run`):

    @cli.command(name="run")
    ...                                   # run's own options (-t, -p, -i, --json...)
    @bulk_options                         # --data, --dataset, --split, --bind, --where, --limit,
    def run_cmd(file, target, prompt, ..., **bulk):   # --concurrency, -o, --no-cache, --restart, --progress
        if wants_bulk(bulk):
            client = Client(...)          # the API client, with its retries and limits
            run_bulk(file, target, prompt, bulk, send=client.asend, endpoint=<client's base URL, region...>)
        ...                               # one request, as before

(`run` must not define `-o`, `--split` or `--progress` itself; `send` may be left out: then
`default_sender` picks the local model for an open-model target, else `run/api.py`'s `Client().asend`.)

Exit codes: 0 every row answered, 1 some rows have an error (the output is still written), 2 a
usage error.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

from .run.limits import DEFAULT_MAX_REPLY_BYTES

#: the keyword arguments `bulk_options` adds to a command (in this order)
BULK_KEYS = ("data", "dataset", "split", "binds", "where", "limit", "concurrency", "output", "no_cache", "restart",
             "progress")


def data_options(command: Callable) -> Callable:
    """The options naming rows: a dataset of the file, or a data file with its bindings."""
    options = [
        click.option("--dataset", metavar="NAME", help="A `dataset` block of the file (its title or prompt)."),
        click.option("--data", metavar="PATH", help="A data file (JSONL, JSON, CSV, Parquet) whose rows are the inputs; "
                                                    "--bind maps its columns (default: a column per parameter)."),
        click.option("--bind", "binds", multiple=True, metavar="NAME=EXPR",
                     help="With --data: a parameter's value, e.g. ticket=row.body (repeatable)."),
        click.option("--where", metavar="EXPR", help="With --data: keep the rows for which it holds."),
        click.option("--limit", type=click.IntRange(min=1), help="With --data: the most rows used."),
        click.option("--split", metavar="S", help="Only the rows of this split of the dataset (e.g. test)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def bulk_options(command: Callable) -> Callable:
    """The options of a bulk run (`polyprompt run FILE --data PATH ...`); the command receives them
    as the keyword arguments `BULK_KEYS` and calls `run_bulk` when `wants_bulk` says so."""
    options = [
        click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
                     help="With --data/--dataset: requests in flight at once."),
        click.option("-o", "--output", type=click.Path(dir_okay=False),
                     help="With --data/--dataset: the results file (JSONL, one line a row, in row order)."),
        click.option("--no-cache", is_flag=True, help="Send every row, even those the reply cache has answered."),
        click.option("--restart", is_flag=True,
                     help="Start over instead of resuming from the results an interrupted run left."),
        click.option("--progress/--no-progress", default=None, help="A progress bar on stderr (default: on a terminal)."),
    ]
    command = data_options(command)
    for option in reversed(options):
        command = option(command)
    return command


def wants_bulk(options: dict) -> bool:
    """Whether a command's options name rows (a bulk run rather than one request)."""
    return bool(options.get("data") or options.get("dataset"))


def run_bulk(file: str, target: str, prompt: str | None, options: dict, send: Any = None,
             endpoint: dict | None = None) -> None:
    """Run every row of the rows `options` name and write the results (exits). `send` is the async
    sender (`Client.asend`; by default the local model for an open-model target, else the API
    client); `endpoint` its settings that belong in the cache key (base URL, region...)."""
    from .run import bulk
    from .run.cache import ReplyCache

    output = options.get("output")
    if not output:
        raise click.UsageError("a run over --data or --dataset writes its results to a file: add -o results.jsonl")
    pf, rows_or_task = _rows(file, prompt, options)
    send = send or default_sender(target)
    cache = None
    if not options.get("no_cache"):
        cache = ReplyCache.default()
    try:
        summary = bulk.run_rows(pf, rows_or_task, target, send, out=output, prompt=prompt, split=options.get("split"),
                                concurrency=options.get("concurrency") or 8, resume=not options.get("restart"),
                                cache=cache, endpoint=endpoint, progress=options.get("progress"))
    except (bulk.BulkError, _dataset_error()) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except _unknown_target() as err:
        raise click.UsageError(str(err).strip("'\"")) from None
    except OSError as err:
        click.echo(f"error: {output}: {err.strerror or err}", err=True)
        sys.exit(1)
    click.echo(summary.line(), err=True)
    sys.exit(1 if summary.errors else 0)


def api_sender(target: str, base_url: str | None, timeout: float, retries: int,
               max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> dict:
    """The sender of a bulk run on an API target (the client with the command's settings) and the
    settings that belong in the reply cache's key; nothing for an open model (the default sender)."""
    from . import backends

    if target.startswith(backends.MODEL_PREFIXES):
        return {}
    from .run.api import Client

    client = Client(timeout=timeout, max_retries=retries, base_url=base_url, max_reply_bytes=max_reply_bytes)
    return {"send": client.asend, "endpoint": client.endpoint_settings() or None}


def default_sender(target: str) -> Any:
    """The sender for a target: the local model for `hf-family:`/`hf:` targets, else the API client
    (run/api.py), which names the extra it needs when it is not installed."""
    from . import backends

    if target.startswith(backends.MODEL_PREFIXES):
        from .run.bulk import local_sender

        return local_sender()
    import importlib

    try:  # the API client (run/api.py), by name: this module is written before it and must not need it
        api = importlib.import_module("polyprompt.run.api")
    except ModuleNotFoundError as err:
        if err.name != "polyprompt.run.api":
            raise  # a missing extra: main() names it
        raise click.UsageError(f"{target}: this install has no API client (polyprompt.run.api) to send "
                               "requests; run an open-model target (hf-family:, hf:) or write a batch file") from None
    return api.Client().asend


def _bulk_error() -> type[Exception]:
    from .run.bulk import BulkError

    return BulkError


def _dataset_error() -> type[Exception]:
    from .dataset import DatasetError

    return DatasetError


def _unknown_target() -> type[Exception]:
    from . import backends

    return backends.UnknownTarget


def _rows(file: str, prompt: str | None, options: dict) -> tuple[Any, Any]:
    """The loaded file and the rows to run: a dataset of the file, or one made of --data/--bind."""
    from .cli_dataset import _checked
    from .dataset import DatasetError
    from .dataset.tasks import COMMAND_LINE, with_command_line_dataset

    data, dataset = options.get("data"), options.get("dataset")
    if data and dataset:
        raise click.UsageError("--data and --dataset both name rows: give one")
    if not data and (options.get("binds") or options.get("where") or options.get("limit")):
        raise click.UsageError("--bind, --where and --limit describe the rows of --data")
    try:
        pf = _checked(file)
        if dataset:
            return pf, dataset
        binds = list(options.get("binds") or ()) or _bind_by_name(pf, prompt)
        name = prompt or pf.prompts[0]
        path = str(data)
        pf = _checked(file, pf_of=lambda: with_command_line_dataset(file, name, path, binds, options.get("where"),
                                                                     options.get("limit")))
        return pf, COMMAND_LINE
    except DatasetError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)


def _bind_by_name(pf: Any, prompt: str | None) -> list[str]:
    """Without --bind, each parameter reads the column of its own name (those with defaults only when present)."""
    decl = pf.prompt(prompt).decl
    return [f"{p.name.name}=row.{p.name.name}" for p in decl.params if p.default is None and not p.optional]


@click.command(name="batch")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-t", "--target", help="The target compiled for (reading: inferred from --against when not given).")
@click.option("-p", "--prompt", help="The prompt (default: the dataset's, else the first of the file).")
@data_options
@click.option("--format", "fmt", type=click.Choice(["openai", "anthropic", "mistral", "gemini", "vertex", "bedrock"]),
              help="The batch engine, when the target's body fits more than one (-t anthropic --format bedrock: "
                   "Claude's InvokeModel body for Bedrock batch inference).")
@click.option("--read", "results", type=click.Path(exists=True, dir_okay=False),
              help="Read this output file of a finished batch job instead of writing an input file.")
@click.option("--against", type=click.Path(exists=True, dir_okay=False),
              help="With --read: the input file sent, so that a row with no result is reported.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The batch input file (JSONL; a .json file for Anthropic is the whole request), or with "
                   "--read the values file (JSONL, one line a row).")
def batch_cmd(file, target, prompt, dataset, data, binds, where, limit, split, fmt, results, against, output):
    """Write the input file of a provider's batch engine for FILE's rows, or read its output file.

    The rows of --dataset (or of --data with --bind) are compiled for -t and written as OpenAI Batch,
    Anthropic Message Batches, Mistral, Gemini, Vertex AI batch prediction or Bedrock batch inference
    lines, each with its row number in its id; `--read` turns the job's output file back into typed
    values in row order, a failed request as its row's error. See docs/run-bulk.md.
    """
    from .run.batch_files import BatchError

    options = {"data": data, "dataset": dataset, "binds": binds, "where": where, "limit": limit, "split": split}
    try:
        if results:
            _read(file, target, prompt, fmt, options, results, against, output)
        else:
            _write(file, target, prompt, fmt, options, output)
    except (BatchError, _dataset_error(), _bulk_error()) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except _unknown_target() as err:
        raise click.UsageError(str(err).strip("'\"")) from None


def _write(file: str, target: str | None, prompt: str | None, fmt: str | None, options: dict, output: str) -> None:
    from .run import bulk
    from .run.batch_files import write_batch

    if not target:
        raise click.UsageError("name the target the rows are compiled for: -t openai-chat, anthropic, vertex...")
    if not wants_bulk(options):
        raise click.UsageError("name the rows: --dataset NAME, or --data PATH with --bind")
    pf, rows_or_task = _rows(file, prompt, options)
    try:
        rows, prompt = bulk.rows_of(pf, rows_or_task, prompt, options.get("split"))
    except (bulk.BulkError, _dataset_error()) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    written = write_batch(pf, rows, target, output, prompt=prompt, fmt=fmt)
    for row, why in written.rejected:
        click.echo(f"row {row}: not written: {why}", err=True)
    click.echo(f"{output}: {written.lines} {written.format} batch lines, {len(written.rejected)} rows not written; "
               f"{written.hint()}", err=True)
    sys.exit(1 if written.rejected else 0)


def _read(file: str, target: str | None, prompt: str | None, fmt: str | None, options: dict, results: str,
          against: str | None, output: str) -> None:
    from .compiler.files import write_atomic
    from .run import bulk
    from .run.batch_files import read_results, target_of

    if not target:
        if against is None:
            raise click.UsageError("name the target (-t) or the input file sent (--against) to read results")
        target, fmt = target_of(against)
    rows = None
    if wants_bulk(options):
        pf, rows_or_task = _rows(file, prompt, options)
        rows, prompt = bulk.rows_of(pf, rows_or_task, prompt, options.get("split"))
    else:
        pf = _checked_file(file)
        if prompt is None:
            rows, prompt = _first_dataset(pf)
    values = read_results(pf, target, results, against=against, prompt=prompt, fmt=fmt, rows=rows)
    write_atomic(output, "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in values))
    errors = sum(v["error"] is not None for v in values)
    click.echo(f"{output}: {len(values)} rows, {len(values) - errors} values, {errors} errors", err=True)
    sys.exit(1 if errors else 0)


def _checked_file(path: str) -> Any:
    from .cli_dataset import _checked

    return _checked(path)


def _first_dataset(pf: Any) -> tuple[Any, str | None]:
    """The rows and prompt of the file's first dataset (what a batch is usually written from);
    (None, None) when the file has none or its data cannot be read."""
    from .dataset import DatasetError
    from .run import bulk

    try:
        return bulk.rows_of(pf, None)
    except (DatasetError, bulk.BulkError):
        return None, None
