"""Bulk runs: every row of a dataset compiled and sent, a bounded number at a time, the answers
written as JSONL in row order; an interrupted run resumes where it stopped.

    >>> summary = run_rows("triage.prompt", "tickets", "openai-chat", client.asend, out="labels.jsonl")

Rows come from a `dataset` block of the file (`rows_or_task` names it, or is its `Task`; `split`
keeps one split), from a dataset given on the command line (`dataset.tasks.with_command_line_dataset`),
or are the prompt's inputs themselves (any iterable of mappings). Each row is compiled with the
compile session; a row that does not fit the prompt (a missing column, a wrong type) is a result
with its `error`, never the end of the run. `send` is an async callable taking the `Compiled` and
returning a result with `value`, `text`, `raw`, `usage`, `latency_ms`, `parse_error` and
`tool_calls` (attributes or keys; the `Client.asend` of `run/api.py`; `local_sender()` for an open
model). An exception it raises is that row's error; one with `status` 401 or 403 stops the run.

Each output line is `{"row", "value", "text", "error", "usage", "latency_ms", "tool_calls",
"cached"}`. Write-ahead: a finished row is appended at once to the journal `<out>.partial` (a
write the kernel holds, so a killed process loses nothing finished; fsync'd every
`SYNC_SECONDS`); at the end the lines are written in row order to a temporary file renamed over
`<out>`, and the journal is removed. A later run with `resume=True` reads the journal and sends
only the rows it does not hold, or holds for another request (a row whose body changed, because
the prompt, the data or the target did, is sent again, and so is a row whose answer was an
error). Replies come from the reply cache
(`run/cache.py`) when it holds them; successful ones are stored in it.

A re-run pays for little besides reading: on an API target, rows are looked up `LOOKUP_BATCH` at
a time in the cache's inputs index (keyed by the program's fingerprint, the target, the prompt, the
inputs and the endpoint settings; `run/cache.py`), and a row found there is answered without being
compiled. Any other row is compiled and looked up by its body's key, as before.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Awaitable, Callable

import attrs

from .cache import FIELDS, InputsKeys, ReplyCache, key_of
from .journal import Journal

#: how often the journal is flushed to disk while a run goes on (seconds)
SYNC_SECONDS = 0.2
#: HTTP statuses after which no other row can succeed: the run stops (the journal is kept)
FATAL_STATUSES = (401, 403)
#: rows answered from the cache or the journal between two turns of the event loop
YIELD_EVERY = 256
#: rows looked up in the cache's inputs index at once
LOOKUP_BATCH = 256
#: `cache=DEFAULT`: the user's reply cache (`ReplyCache.default()`)
DEFAULT: Any = object()

Send = Callable[[Any], Awaitable[Any]]


class BulkError(Exception):
    """A bulk run that cannot go on (no such dataset or split, every request refused); the message
    says why and that the finished rows are kept for a resumed run."""


@attrs.define
class Summary:
    """What a bulk run did: rows written, and how each got its answer."""
    out: str
    rows: int = 0
    sent: int = 0
    cached: int = 0
    resumed: int = 0
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        rate = f", {self.rows / self.seconds:.1f} rows/s" if self.seconds > 0 else ""
        return (f"{self.out}: {self.rows} rows ({self.sent} sent, {self.cached} from the cache, "
                f"{self.resumed} from an earlier run), {self.errors} errors{rate}")

    def to_json(self) -> dict:
        """The summary as a JSON object."""
        return attrs.asdict(self)


@attrs.frozen
class Pending:
    """A row to answer: its number and the prompt's inputs (or why it has none)."""
    row: int
    inputs: dict | None = None
    error: str | None = None


@attrs.frozen
class Ready:
    """A row compiled for the target (or why it could not be)."""
    row: int
    compiled: Any = None
    error: str | None = None


def run_rows(prompt_file: Any, rows_or_task: Any, target: str, send: Send, *, out: str | os.PathLike,
             prompt: str | None = None, split: str | None = None, concurrency: int = 8, resume: bool = True,
             cache: Any = DEFAULT, endpoint: Mapping[str, Any] | None = None,
             progress: bool | None = None) -> Summary:
    """Run every row and write `out` (see the module docstring); the `Summary`. From running
    asyncio code, await `arun_rows` instead."""
    return asyncio.run(arun_rows(prompt_file, rows_or_task, target, send, out=out, prompt=prompt, split=split,
                                 concurrency=concurrency, resume=resume, cache=cache, endpoint=endpoint,
                                 progress=progress))


async def arun_rows(prompt_file: Any, rows_or_task: Any, target: str, send: Send, *, out: str | os.PathLike,
                    prompt: str | None = None, split: str | None = None, concurrency: int = 8,
                    resume: bool = True, cache: Any = DEFAULT, endpoint: Mapping[str, Any] | None = None,
                    progress: bool | None = None) -> Summary:
    """`run_rows` as a coroutine. `endpoint`: the sender's settings that change an answer without
    being in the body (base URL, region...), part of each cache key; `cache`: a `ReplyCache`,
    None for none, or the user's (default)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    pf = _loaded(prompt_file)
    pf.backend(target)  # an unknown target fails here, once, not on every row
    replies = ReplyCache.default() if cache is DEFAULT else cache or None
    rows, prompt = rows_of(pf, rows_or_task, prompt, split)
    started = time.perf_counter()
    run = _Run(pf, target, prompt, send, Journal(Path(str(out) + ".partial"), resume), replies, dict(endpoint or {}),
               concurrency, progress, Summary(str(out)))
    if replies is not None:
        run.fingerprint = program_fingerprint(pf, target)
    try:
        order = await run.all(rows)
    finally:
        run.close()
    run.journal.assemble(order, Path(out), durable=run.summary.sent > 0)
    run.summary.seconds = time.perf_counter() - started
    return run.summary


class _Run:
    """One bulk run's state: the journal, the cache, the in-flight sends and the counts."""

    def __init__(self, pf: Any, target: str, prompt: str | None, send: Send, journal: Journal,
                 cache: ReplyCache | None, endpoint: dict, concurrency: int, progress: bool | None,
                 summary: Summary):
        from ..dataset.outputs import progress_bar

        self.pf, self.target, self.prompt, self.send = pf, target, prompt, send
        self.journal, self.cache, self.endpoint, self.summary = journal, cache, endpoint, summary
        self.slots = asyncio.Semaphore(concurrency)
        self.bar = progress_bar(progress)
        self.fatal: str | None = None
        self.to_store: list[tuple[str, dict]] = []
        #: (inputs key, body key) pairs to add to the cache's inputs index
        self.to_link: list[tuple[str, str]] = []
        #: the program's fingerprint (`program_fingerprint`); None: no inputs index
        self.fingerprint: str | None = None
        self._keys: InputsKeys | None = None

    async def all(self, rows: Iterator[Pending]) -> list[int]:
        """Answer every row (at most `concurrency` in flight); the row numbers, in order."""
        order: list[int] = []
        tasks: set[asyncio.Task] = set()
        syncer = asyncio.ensure_future(self._sync_often())
        try:
            for batch in _batches(rows, LOOKUP_BATCH):
                keys, found = self._lookup(batch)
                for pending in batch:
                    if self.fatal is not None:
                        break
                    order.append(pending.row)
                    hit = found.get(pending.row)
                    if hit is not None:
                        self._answered(pending.row, *hit)
                        task = None
                    else:
                        task = await self._start(self._compiled(pending), keys.get(pending.row))
                    if task is not None:
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    elif len(order) % YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # rows answered without a send: let the journal's flush run
                if self.fatal is not None:
                    break
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            syncer.cancel()
            for task in tasks:
                task.cancel()
            self._flush()
        if self.summary.sent:  # a reply paid for is on disk before the results file is assembled
            self.journal.sync()
        if self.fatal is not None:
            raise BulkError(f"{self.fatal}; the {len(self.journal.index)} rows answered so far are kept in "
                            f"{self.journal.path}: run again to resume")
        return order

    def _lookup(self, batch: list[Pending]) -> tuple[dict[int, str], dict[int, tuple[str, dict]]]:
        """The inputs key of each row of `batch` (those with plain JSON inputs), and the rows the
        cache's inputs index answers: {row: (body key, stored result)}; nothing without an index."""
        if self.cache is None or self.fingerprint is None:
            return {}, {}
        if self._keys is None:
            self._keys = InputsKeys(self.fingerprint, self.target, self.pf.prompt(self.prompt).name, self.endpoint)
        keys = {}
        for pending in batch:
            if pending.error is None and pending.inputs is not None:
                key = self._keys(pending.inputs)
                if key is not None:
                    keys[pending.row] = key
        stored = self.cache.get_by_inputs(list(keys.values())) if keys else {}
        return keys, {row: stored[key] for row, key in keys.items() if key in stored}

    def _answered(self, row: int, key: str, stored: dict) -> None:
        """A row the inputs index answered: from the journal when it holds this request, else the cache."""
        if self.journal.holds(row, key):
            self.summary.resumed += 1
            self._count(False)
            return
        self.summary.cached += 1
        self._record(row, key, _line(row, cached=True, **stored))

    def _compiled(self, pending: Pending) -> Ready:
        """The row compiled for the target (a row that does not fit gets its error)."""
        from ..compiler.inputs import InputError
        from ..session.compiled import CompileError

        if pending.error is not None:
            return Ready(pending.row, error=pending.error)
        try:
            return Ready(pending.row, self.pf.compile(self.target, pending.inputs, prompt=self.prompt))
        except InputError as err:
            return Ready(pending.row, error="; ".join(f"input {p}" for p in err.problems) or str(err))
        except CompileError as err:
            return Ready(pending.row, error="; ".join(d.message for d in err.diagnostics))

    async def _start(self, pending: Ready, link: str | None = None) -> asyncio.Task | None:
        """Answer a row from its error, the journal or the cache; else start sending it (waiting for
        a slot). `link`: the row's inputs key, linked to its body's key once the cache holds the reply."""
        if pending.compiled is None:
            self._record(pending.row, None, _line(pending.row, error=pending.error))
            return None
        key = key_of(self.target, pending.compiled.body, self.endpoint)
        if self.journal.holds(pending.row, key):
            self.summary.resumed += 1
            self._count(False)
            return None
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is not None:
            if link is not None:
                self.to_link.append((link, key))
            self.summary.cached += 1
            self._record(pending.row, key, _line(pending.row, cached=True, **stored))
            return None
        await self.slots.acquire()
        if self.fatal is not None:
            self.slots.release()
            return None
        return asyncio.ensure_future(self._send(pending.row, pending.compiled, key, link))

    async def _send(self, row: int, compiled: Any, key: str, link: str | None = None) -> None:
        try:
            started = time.perf_counter()
            try:
                result = await self.send(compiled)
            except Exception as err:  # any failure of one row is that row's error, never the run's end
                self._check_fatal(err)
                self.summary.sent += 1
                self._record(row, key, _line(row, error=_describe(err)))
                return
            self.summary.sent += 1
            fields = _fields(result, (time.perf_counter() - started) * 1000)
            error = _field(result, "parse_error")
            line = _line(row, error=f"the reply does not parse: {error}" if error else None, **fields)
            if error is None and self.cache is not None:
                self.to_store.append((key, fields))  # stored in batches (`_flush`)
                if link is not None:
                    self.to_link.append((link, key))
            self._record(row, key, line)
        finally:
            self.slots.release()

    def _check_fatal(self, err: Exception) -> None:
        status = getattr(err, "status", None)
        if self.fatal is not None:
            return
        if status in FATAL_STATUSES:
            self.fatal = f"the provider refused the request ({_describe(err)})"
        elif getattr(err, "wait", None) is not None:  # asked to wait minutes: every other row would be too
            self.fatal = _describe(err)
        elif getattr(err, "kind", None) in ("config", "auth"):  # a missing key, region or extra: no row can succeed
            self.fatal = _describe(err)

    def _record(self, row: int, key: str | None, line: dict) -> None:
        self.journal.append(row, key, line)
        self._count(line["error"] is not None)

    def _count(self, failed: bool) -> None:
        self.summary.rows += 1
        self.summary.errors += failed
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(errors=self.summary.errors, cached=self.summary.cached, refresh=False)

    async def _sync_often(self) -> None:
        """Every SYNC_SECONDS: the journal flushed to disk (off the event loop), the new replies cached."""
        while True:
            await asyncio.sleep(SYNC_SECONDS)
            self._flush()
            if self.journal.dirty:
                self.journal.dirty = False
                await asyncio.to_thread(self.journal.fsync)

    def _flush(self) -> None:
        """Store the replies received since the last flush in the cache, in one transaction."""
        if (self.to_store or self.to_link) and self.cache is not None:
            items, links, self.to_store, self.to_link = self.to_store, self.to_link, [], []
            self.cache.put_many(items, links)

    def close(self) -> None:
        """Close the journal and the bar."""
        self.journal.close()
        if self.bar is not None:
            self.bar.close()


def program_fingerprint(pf: Any, target: str) -> str | None:
    """What the body of every row depends on besides its inputs: the text of every source file of
    the program (imports and the standard library included) with its path, the project root, the
    compiler build and the target's name; None for an open-model target (its bodies also depend on
    the tokenizer's files) and for a target that cannot be resolved."""
    import hashlib
    import json

    from ..session.prompt_file import build_id
    from .providers import KINDS

    try:
        if getattr(type(pf.backend(target)), "name", None) not in KINDS:
            return None
        program = pf.analysis.program
    except Exception:  # no index is only slower; the run itself reports what is wrong
        return None
    parts = ["polyprompt-program", build_id(), str(program.root), target,
             [[key, module.source.text] for key, module in sorted(program.modules.items())]]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def _batches(rows: Iterator[Pending], size: int) -> Iterator[list[Pending]]:
    """The rows, `size` at a time (the last batch may be shorter)."""
    batch: list[Pending] = []
    for pending in rows:
        batch.append(pending)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _line(row: int, *, error: str | None = None, cached: bool = False, **fields: Any) -> dict:
    """One output line (the fields a row has not got are null)."""
    line = {"row": row, "value": None, "text": None, "error": error, "usage": None, "latency_ms": None,
            "tool_calls": None, "cached": cached}
    line.update({k: v for k, v in fields.items() if k in line and k != "raw"})
    return line


def _field(result: Any, name: str) -> Any:
    """A field of a sender's result: an attribute (`ApiResult`), or a key of a mapping."""
    return result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)


def _fields(result: Any, measured_ms: float) -> dict:
    """The cacheable fields of a sender's result (its own latency when it measured one)."""
    fields = {name: _field(result, name) for name in FIELDS}
    latency = fields.get("latency_ms")
    if not isinstance(latency, (int, float)) or isinstance(latency, bool):
        fields["latency_ms"] = round(measured_ms, 3)
    return fields


def _describe(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# --- rows -------------------------------------------------------------------------------------------

def _loaded(prompt_file: Any) -> Any:
    """A loaded prompt file (a path is loaded); CompileError when it has errors."""
    from ..session.compiled import CompileError
    from ..session.prompt_file import load

    pf = prompt_file if hasattr(prompt_file, "compile") else load(prompt_file)
    errors = [d for d in pf.diagnostics if d.is_error]
    if errors:
        raise CompileError(errors)
    return pf


def rows_of(pf: Any, rows_or_task: Any, prompt: str | None = None,
            split: str | None = None) -> tuple[Iterator[Pending], str | None]:
    """The rows to run and the prompt they are for: a `Task` (its prompt), a dataset name of the
    file (None: its first dataset), or inputs of `prompt` (an iterable of mappings, numbered from
    1). BulkError for a split the dataset has not got."""
    from ..dataset.align import Task
    from ..dataset.tasks import tasks_of

    if rows_or_task is None or isinstance(rows_or_task, str):
        rows_or_task = tasks_of(pf, [rows_or_task] if rows_or_task else None)[0]
    if isinstance(rows_or_task, Task):
        return _task_rows(pf, rows_or_task, split), rows_or_task.prompt.name
    if split is not None:
        raise BulkError("a split is chosen among a dataset's rows; rows given as inputs have none")
    if isinstance(rows_or_task, Mapping) or not isinstance(rows_or_task, Iterable):
        raise TypeError("rows_or_task is a Task, a dataset name, or an iterable of input mappings")
    return _input_rows(rows_or_task), prompt


def _input_rows(rows: Iterable[Any]) -> Iterator[Pending]:
    for number, inputs in enumerate(rows, start=1):
        if isinstance(inputs, Mapping):
            yield Pending(number, dict(inputs))
        else:
            yield Pending(number, error=f"a row is a mapping of inputs, not {type(inputs).__name__}")


def _task_rows(pf: Any, task: Any, split: str | None) -> Iterator[Pending]:
    """The rows of a dataset that `where`, `limit` and `split` keep, each as the prompt's inputs."""
    from ..dataset import splits

    names = {name for name, _ in task.splits} | {splits.TRAIN}
    if split is not None and split not in names:
        raise BulkError(f"the dataset `{task.name}` has no split `{split}`; its splits: {', '.join(sorted(names))}")
    return _kept_rows(pf, task, split)


def _kept_rows(pf: Any, task: Any, split: str | None) -> Iterator[Pending]:
    from ..dataset import sources, splits
    from ..dataset.align import RowProblem
    from ..dataset.tasks import data_path

    inputs_only = attrs.evolve(task, answers={})  # the answers are for training, not needed to ask
    path = data_path(pf, task.source)
    kept = 0
    try:
        for row in sources.read_rows(path):
            if isinstance(row, sources.BadRow):
                yield Pending(row.number, error=f"{row.where()}: {row.reason}")
                continue
            try:
                if not task.keeps(row.data):
                    continue
                if split is not None and splits.split_of(splits.row_key(row.data), task.splits, task.seed) != split:
                    continue
                if task.limit is not None and kept >= task.limit:
                    return
                kept += 1
                yield Pending(row.number, inputs_only.example(row.data).inputs)
            except RowProblem as problem:
                yield Pending(row.number, error=f"{problem.field}: {problem.reason}")
    except sources.DataError as err:
        raise BulkError(str(err)) from None


# --- an open model as a sender -----------------------------------------------------------------------

@attrs.frozen
class LocalResult:
    """A local model's answer in the shape of an API result (`run/api.py` `ApiResult`)."""
    value: Any
    text: str | None
    raw: dict
    usage: dict | None
    latency_ms: float
    parse_error: str | None
    tool_calls: list | None = None


def local_sender(max_new_tokens: int | None = None, *, choice: bool = True, model: Any = None,
                 tokenizer: Any = None) -> Send:
    """An async sender that answers with the local open model of an `hf-family:`/`hf:` compile
    (`run/local.py` `generate`), in a worker thread, one row at a time (one model, one CPU)."""
    import threading

    lock = threading.Lock()

    def answer(compiled: Any) -> LocalResult:
        from . import local

        with lock:
            started = time.perf_counter()
            reply = local.generate(compiled, max_new_tokens, choice=choice, model=model, tokenizer=tokenizer)
            elapsed = (time.perf_counter() - started) * 1000
        raw: dict[str, Any] = {"text": reply.text, "finish_reason": reply.finish_reason,
                               "token_ids": list(reply.token_ids)}
        if reply.scores is not None:
            raw["scores"] = reply.scores
        return LocalResult(reply.value, reply.text, raw, {"completion_tokens": len(reply.token_ids)},
                           round(elapsed, 3), reply.error)

    async def send(compiled: Any) -> LocalResult:
        return await asyncio.to_thread(answer, compiled)

    return send
