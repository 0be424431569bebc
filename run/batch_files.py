"""The providers' own batch engines: their input files written from a dataset's rows, and their
output files read back into typed values joined to the rows.

Each row is compiled for the target (the exact body `polyprompt run` would send) and written as
one line of the provider's batch input format; the line's id carries the row number, because no
provider promises its output in input order:

| format | target | input line | id |
|---|---|---|---|
| `openai` | openai-chat, openai-responses | `{"custom_id", "method": "POST", "url": "/v1/chat/completions" or "/v1/responses", "body"}` | `custom_id` `row-N` |
| `anthropic` | anthropic | `{"custom_id", "params"}` (a `.json` output: the whole `{"requests": [...]}` body of `POST /v1/messages/batches`) | `custom_id` `row-N` |
| `mistral` | mistral | `{"custom_id", "body"}` | `custom_id` `row-N` |
| `gemini` | gemini | `{"key", "request"}` (the body without `model`: the job names it) | `key` `row-N` |
| `vertex` | vertex | `{"request"}` (the body without `model`) | `request.labels.polyprompt_row` `N` |
| `bedrock` | bedrock-converse | `{"recordId", "modelInput"}`, modelInput the Converse body without `modelId`: a job created with `modelInvocationType: "Converse"` | `recordId` `R` + 10 digits |
| `bedrock` | anthropic | `{"recordId", "modelInput"}`, modelInput the InvokeModel body of a Claude model (`anthropic_version: "bedrock-2023-05-31"`, no `model`): a job of the default `InvokeModel` type | same |

Reading (`read_results`) takes the provider's output file (OpenAI's output and error files may be
concatenated), finds each line's row by its id, and parses the reply with the target's reply
reader into the prompt's output type: `{"row", "value", "text", "error", "usage", "tool_calls"}`
in row order. A failed line (an error object, a non-200 status, an errored, canceled or expired
result, a Vertex `status`) is its row's `error`; with the input file (`against`), a row the output
does not answer is an error too.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

#: the format each backend writes by default
FORMAT_OF = {"openai-chat": "openai", "openai-responses": "openai", "anthropic": "anthropic", "mistral": "mistral",
             "gemini": "gemini", "vertex": "vertex", "bedrock-converse": "bedrock"}
#: the formats each backend can write
ALLOWED = {**{name: {fmt} for name, fmt in FORMAT_OF.items()}, "anthropic": {"anthropic", "bedrock"}}
#: OpenAI's endpoint of each backend
OPENAI_URL = {"openai-chat": "/v1/chat/completions", "openai-responses": "/v1/responses"}
#: documented per-file request limits (a larger batch is refused, not silently cut)
LIMITS = {"openai": 50_000, "anthropic": 100_000}
#: the InvokeModel body version of Claude models on Bedrock
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
VERTEX_LABEL = "polyprompt_row"
#: the key a strict schema wraps a non-object output in (compiler/passes/lower_output_schema.py)
WRAP_KEY = "value"
_ROW_ID = re.compile(r"row-([1-9][0-9]*)")
_RECORD_ID = re.compile(r"R([0-9]{10})")


class BatchError(Exception):
    """A batch file that cannot be written or read (a target with no batch engine, a file that is
    not a batch output); the message says which and why."""


@attrs.define
class Written:
    """What `write_batch` wrote: lines, the rows left out (number, why) and how to submit the job."""
    path: str
    format: str
    lines: int = 0
    rejected: list[tuple[int, str]] = attrs.Factory(list)
    model: str | None = None

    def hint(self) -> str:
        """How to submit the file (the job settings the lines do not carry)."""
        return {"openai": "upload with purpose=batch; create the batch with the same endpoint as the lines' url",
                "anthropic": "POST the requests to /v1/messages/batches",
                "mistral": f"upload with purpose=batch; create the job for /v1/chat/completions, model {self.model}",
                "gemini": f"upload the file; create the batch for models/{self.model}",
                "vertex": f"put the file in Cloud Storage; create the batchPredictionJob for {self.model}",
                "bedrock": f"put the file in S3; create the model invocation job for {self.model}"}[self.format]


def format_for(backend: Any, wanted: str | None = None) -> str:
    """The batch format a target's backend writes (`wanted`, when that backend can write it)."""
    kind = type(backend).name
    allowed = ALLOWED.get(kind)
    if not allowed:
        raise BatchError(f"{backend.name}: no provider batch engine takes this target; batch files are written for "
                         f"{', '.join(sorted(FORMAT_OF))} (or run the rows with `polyprompt run --data`)")
    fmt = wanted or FORMAT_OF[kind]
    if fmt not in allowed:
        raise BatchError(f"{backend.name}: a {kind} body cannot be a `{fmt}` batch line; it writes {', '.join(sorted(allowed))}")
    return fmt


def row_id(fmt: str, row: int) -> str:
    """The id a line of `fmt` carries for a row."""
    return f"R{row:010d}" if fmt == "bedrock" else str(row) if fmt == "vertex" else f"row-{row}"


def row_of(fmt: str, ident: Any) -> int | None:
    """The row number an id stands for (None: not one of ours)."""
    if not isinstance(ident, str):
        return None
    match = (_RECORD_ID if fmt == "bedrock" else re.compile(r"([1-9][0-9]*)") if fmt == "vertex" else _ROW_ID).fullmatch(ident)
    return int(match.group(1)) if match else None


def batch_line(fmt: str, kind: str, row: int, body: dict) -> dict:
    """One input line of `fmt` for a row's body compiled by a `kind` backend."""
    ident = row_id(fmt, row)
    if fmt == "openai":
        return {"custom_id": ident, "method": "POST", "url": OPENAI_URL[kind], "body": body}
    if fmt == "anthropic":
        return {"custom_id": ident, "params": body}
    if fmt == "mistral":
        return {"custom_id": ident, "body": body}
    request = {k: v for k, v in body.items() if k not in ("model", "modelId")}
    if fmt == "gemini":
        return {"key": ident, "request": request}
    if fmt == "vertex":
        return {"request": {**request, "labels": {**request.get("labels", {}), VERTEX_LABEL: ident}}}
    if kind == "anthropic":  # Claude's own InvokeModel body on Bedrock
        request = {"anthropic_version": BEDROCK_ANTHROPIC_VERSION, **request}
    return {"recordId": ident, "modelInput": request}


def write_batch(pf: Any, rows: Iterator[Any], target: str, out: str | os.PathLike, *, prompt: str | None = None,
                fmt: str | None = None) -> Written:
    """Compile every row (`bulk.rows_of`: number and inputs, or why not) and write the batch input
    file `out` atomically; rows that do not compile are listed in `rejected`, not written."""
    from ..compiler.files import write_atomic
    from ..compiler.inputs import InputError
    from ..session.compiled import CompileError

    backend = pf.backend(target)
    fmt = format_for(backend, fmt)
    kind = type(backend).name
    written = Written(str(out), fmt)
    lines: list[dict] = []
    for pending in rows:
        if pending.error is not None:
            written.rejected.append((pending.row, pending.error))
            continue
        try:
            body = pf.compile(target, pending.inputs, prompt=prompt).body
        except InputError as err:
            written.rejected.append((pending.row, "; ".join(f"input {p}" for p in err.problems)))
            continue
        except CompileError as err:
            raise BatchError("; ".join(d.message for d in err.diagnostics)) from None
        written.model = written.model or body.get("modelId") or body.get("model")
        lines.append(batch_line(fmt, kind, pending.row, body))
    if fmt in LIMITS and len(lines) > LIMITS[fmt]:
        raise BatchError(f"{len(lines)} requests: a {fmt} batch takes at most {LIMITS[fmt]:,}; write the rows in "
                         "parts (a split, `limit`, or several data files)")
    written.lines = len(lines)
    if fmt == "anthropic" and Path(out).suffix == ".json":
        text = json.dumps({"requests": lines}, ensure_ascii=False) + "\n"
    else:
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    write_atomic(out, text)
    return written


# --- reading the output files ------------------------------------------------------------------------

@attrs.frozen
class Outcome:
    """One output line, understood: its row, and the reply JSON or why there is none."""
    row: int
    reply: dict | None
    error: str | None = None


def read_results(pf: Any, target: str, path: str | os.PathLike, *, against: str | os.PathLike | None = None,
                 prompt: str | None = None, fmt: str | None = None, rows: Iterator[Any] | None = None) -> list[dict]:
    """The output file of a batch job as result lines in row order (see the module docstring).
    `rows` (`bulk.rows_of`) are the rows the batch was written for: the first that compiles gives
    the output as the target was asked for it (a lowered schema may wrap the value in an object);
    without them, the prompt's defaults or its declared output stand in."""
    backend = pf.backend(target)
    fmt = format_for(backend, fmt)
    output, exact = lowered_output(pf, target, prompt, rows)
    outputs = [output] if exact or output is None else [output, attrs.evolve(output, wrapped=WRAP_KEY)]
    results: dict[int, dict] = {}
    for outcome in _outcomes(fmt, Path(path)):
        found = results.get(outcome.row)
        if found is None or found["error"] is not None:  # a row answered twice: a success wins
            results[outcome.row] = _result(outcome, backend, outputs)
    if against is not None:
        for row in _sent_rows(fmt, Path(against)):
            results.setdefault(row, _empty(row, "the output file has no result for this row"))
    return [results[row] for row in sorted(results)]


def lowered_output(pf: Any, target: str, prompt: str | None, rows: Iterator[Any] | None = None) -> tuple[Any, bool]:
    """The prompt's output as lowered for the target (the IR `Output` replies are parsed with),
    and whether it is exactly that: without a row that compiles (nor defaults for every
    parameter) it is the declared output, and a reply may then also be the value wrapped in the
    object strict schemas ask for."""
    from ..compiler.inputs import InputError
    from ..dataset import DatasetError
    from ..session.compiled import CompileError
    from .bulk import BulkError

    try:
        first = _first(p.inputs for p in rows or () if p.error is None)
    except (BulkError, DatasetError):
        first = []  # the data moved since the batch was written: the defaults or the declared output stand in
    for inputs in [*first, {}]:
        try:
            return pf.lower(target, inputs, prompt=prompt)[0].output, True
        except (InputError, CompileError):
            continue
    return pf.prompt(prompt).output, False


def _first(items: Iterator[Any]) -> list[Any]:
    return [item for item, _ in zip(items, range(1))]


def _result(outcome: Outcome, backend: Any, outputs: list[Any]) -> dict:
    """A result line of an output line: the reply parsed with the first of `outputs` it fits."""
    from ..compiler.replies import ReplyError
    from ..session.compiled import parse_reply

    line = _empty(outcome.row, outcome.error)
    if outcome.reply is None:
        return line
    line["usage"] = outcome.reply.get("usage") or outcome.reply.get("usageMetadata")
    failure = None
    for output in outputs:
        try:
            reply = parse_reply(backend, outcome.reply, output=output, tolerant=backend.caps.structured_output is None)
            break
        except ReplyError as err:
            failure = failure or err
    else:
        line["error"] = f"the reply does not parse: {failure}"
        return line
    line["text"], line["value"] = reply.text, reply.value
    line["tool_calls"] = [attrs.asdict(call) if attrs.has(type(call)) else call for call in reply.tool_calls] or None
    return line


def _empty(row: int, error: str | None) -> dict:
    return {"row": row, "value": None, "text": None, "error": error, "usage": None, "tool_calls": None}


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) of every non-blank line; BatchError naming a line that is not JSON."""
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise BatchError(f"{path}: {err.strerror or err}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw)
            except (ValueError, RecursionError) as err:
                raise BatchError(f"{path}:{number}: not JSON ({err})") from None


def _outcomes(fmt: str, path: Path) -> Iterator[Outcome]:
    read = {"openai": _openai, "mistral": _openai, "anthropic": _anthropic, "gemini": _gemini, "vertex": _vertex,
            "bedrock": _bedrock}[fmt]
    for number, line in _json_lines(path):
        if not isinstance(line, dict):
            raise BatchError(f"{path}:{number}: a batch output line is a JSON object")
        outcome = read(line)
        if outcome is None:
            raise BatchError(f"{path}:{number}: not a line of a {fmt} batch output written for these rows "
                             f"(no id polyprompt wrote)")
        yield outcome


def _openai(line: dict) -> Outcome | None:
    """OpenAI (and Mistral) `{"custom_id", "response": {"status_code", "body"}, "error"}`."""
    row = row_of("openai", line.get("custom_id"))
    if row is None:
        return None
    error, response = line.get("error"), line.get("response")
    if error:
        return Outcome(row, None, _message(error))
    if not isinstance(response, dict) or not isinstance(response.get("body"), dict):
        return Outcome(row, None, "the line has neither a response body nor an error")
    status = response.get("status_code", 200)
    if status != 200:
        return Outcome(row, None, f"HTTP {status}: {_message(response['body'].get('error') or response['body'])}")
    return Outcome(row, response["body"])


def _anthropic(line: dict) -> Outcome | None:
    """Anthropic `{"custom_id", "result": {"type": "succeeded", "message"} | errored | canceled | expired}`."""
    row = row_of("anthropic", line.get("custom_id"))
    if row is None:
        return None
    result = _dict(line.get("result"))
    kind = result.get("type")
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return Outcome(row, result["message"])
    if kind == "errored":
        error = result.get("error") or {}
        return Outcome(row, None, _message(error.get("error", error) if isinstance(error, dict) else error))
    if kind in ("canceled", "expired"):
        return Outcome(row, None, f"the request was {kind} before it ran")
    return Outcome(row, None, f"an unknown result type {kind!r}")


def _gemini(line: dict) -> Outcome | None:
    """Gemini API `{"key", "response"}` or `{"key", "error"}` (a google.rpc.Status)."""
    row = row_of("gemini", line.get("key"))
    if row is None:
        return None
    if isinstance(line.get("response"), dict):
        return Outcome(row, line["response"])
    return Outcome(row, None, _message(line.get("error") or line.get("status") or "the line has no response"))


def _vertex(line: dict) -> Outcome | None:
    """Vertex `{"request", "response", "status", ...}`: the row in the echoed request's labels; a
    failed request has a non-empty `status` and no `response`."""
    labels = _dict(_dict(line.get("request")).get("labels"))
    row = row_of("vertex", labels.get(VERTEX_LABEL))
    if row is None:
        return None
    status = line.get("status")
    if status or not isinstance(line.get("response"), dict):
        return Outcome(row, None, _message(status or "the line has no response"))
    return Outcome(row, line["response"])


def _bedrock(line: dict) -> Outcome | None:
    """Bedrock `{"recordId", "modelInput", "modelOutput"}`; `error: {errorCode, errorMessage}` replaces modelOutput."""
    row = row_of("bedrock", line.get("recordId"))
    if row is None:
        return None
    error = line.get("error")
    if error:
        if isinstance(error, dict):
            return Outcome(row, None, f"{error.get('errorCode', 'error')}: {error.get('errorMessage', '')}".strip())
        return Outcome(row, None, str(error))
    if not isinstance(line.get("modelOutput"), dict):
        return Outcome(row, None, "the line has neither modelOutput nor an error")
    return Outcome(row, line["modelOutput"])


def _dict(value: Any) -> dict:
    """The value when it is an object, else an empty one (a line of the wrong shape reads as empty)."""
    return value if isinstance(value, dict) else {}


def _message(error: Any) -> str:
    """A provider error object as one line: `type/code: message`."""
    if not isinstance(error, dict):
        return str(error)
    code = error.get("code") or error.get("type") or error.get("status")
    message = error.get("message") or json.dumps(error, ensure_ascii=False)
    return f"{code}: {message}" if code else str(message)


def _sent_rows(fmt: str, path: Path) -> Iterator[int]:
    """The rows an input file asks for."""
    for number, line in _json_lines(path):
        whole = fmt == "anthropic" and isinstance(line, dict) and isinstance(line.get("requests"), list)
        for item in line["requests"] if whole else [line]:
            if not isinstance(item, dict):
                raise BatchError(f"{path}:{number}: not a {fmt} batch input line")
            ident = (item.get("custom_id") or item.get("key") or item.get("recordId")
                     or ((item.get("request") or {}).get("labels") or {}).get(VERTEX_LABEL))
            row = row_of(fmt, ident)
            if row is None:
                raise BatchError(f"{path}:{number}: not a {fmt} batch input line written by polyprompt")
            yield row


def target_of(path: str | os.PathLike) -> tuple[str, str]:
    """(target, format) of a batch input file polyprompt wrote, read from its first line."""
    for number, line in _json_lines(Path(path)):
        if isinstance(line, dict) and isinstance(line.get("requests"), list) and line["requests"]:
            line = line["requests"][0]  # Anthropic's whole create request
        if not isinstance(line, dict):
            break
        if "url" in line:
            found = {url: kind for kind, url in OPENAI_URL.items()}.get(line["url"])
            if found:
                return found, "openai"
        elif "params" in line:
            return "anthropic", "anthropic"
        elif "custom_id" in line and "body" in line:
            return "mistral", "mistral"
        elif "key" in line and "request" in line:
            return "gemini", "gemini"
        elif "request" in line:
            return "vertex", "vertex"
        elif isinstance(line.get("modelInput"), dict):
            return ("anthropic", "bedrock") if "anthropic_version" in line["modelInput"] else ("bedrock-converse", "bedrock")
        raise BatchError(f"{path}:{number}: not a batch input line polyprompt writes; name the target with -t")
    raise BatchError(f"{path}: no batch input line to tell the target by; name it with -t")
