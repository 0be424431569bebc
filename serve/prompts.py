"""The prompts a server serves: loaded once, checked, compiled per request, answered by a target.

`PromptSet(paths)` loads every `.prompt` file named (folders searched) and refuses to start when
one has errors or two files declare a prompt of the same name. `compile` checks the JSON inputs
with the session's input check (every problem listed: a 422) and compiles; `answer` sends a
compiled prompt to its target and returns the typed answer (`Answer`).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import attrs

from .errors import ApiError
from .worker import QueueFull, Worker

__all__ = ["Answer", "PromptSet", "ServeError", "answer", "inputs_schema", "report_json"]


class ServeError(ValueError):
    """The files cannot be served (errors in them, two prompts of one name, no prompt)."""


@attrs.frozen
class Answer:
    """A target's answer to a compiled prompt: the typed `value` (None when the reply does not parse:
    `error` says why), the reply `text`, `finish_reason`, token `usage` and the time it took."""

    value: Any
    text: str
    finish_reason: str | None
    usage: dict[str, int] | None
    latency_ms: float
    error: str | None = None
    tool_calls: list | None = None

    def to_json(self, target: str) -> dict:
        """The answer's JSON body."""
        out = {"value": self.value, "text": self.text, "target": target, "finish_reason": self.finish_reason,
               "usage": self.usage, "latency_ms": round(self.latency_ms, 2)}
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        return out


@attrs.define
class Entry:
    """One served prompt: its file and name."""

    pf: Any  # session.PromptFile
    name: str


class PromptSet:
    """Every prompt of the files named, by name."""

    def __init__(self, paths, root: str | None = None):
        from ..compiler.diagnostics import render_all
        from ..session import load
        from ..session.analysis import prompt_files

        self.entries: dict[str, Entry] = {}
        files = prompt_files(paths)
        for path in files:
            pf = load(path) if root is None else load(path, root=root)
            errors = [d for d in pf.diagnostics if d.is_error]
            if errors:
                raise ServeError(f"{path} has errors; fix them before serving it:\n{render_all(errors)}")
            # requests compile with a PromptFile that has not parsed the file: served by the compile
            # cache (session/prompt_file.py) when it has the prompt, as an in-process compile is
            served = load(path) if root is None else load(path, root=root)
            for name in pf.prompts:
                if name in self.entries:
                    raise ServeError(f"two prompts are named `{name}`: in {self.entries[name].pf.path} and in {path}; "
                                     "serve them from separate servers or rename one")
                self.entries[name] = Entry(served, name)
        if not self.entries:
            raise ServeError(f"no prompt to serve in {', '.join(map(str, paths)) or 'no file'}")
        self.base = os.path.commonpath([str(Path(p).resolve().parent) for p in files])

    def entry(self, name: str) -> Entry:
        """The prompt of that name; 404 when there is none."""
        found = self.entries.get(name)
        if found is None:
            from ..compiler.targets import did_you_mean

            hint = did_you_mean(name, self.entries) or f"prompts: {', '.join(self.entries)}"
            raise ApiError(404, f"no prompt `{name}`; {hint}", "unknown_prompt")
        return found

    def compile(self, name: str, target: str, inputs: Any):
        """The prompt compiled for a target with these inputs; ApiError 422 listing every input
        problem, 400 for an unknown target or a prompt the target cannot express."""
        from .. import backends
        from ..compiler.inputs import InputError
        from ..session import CompileError

        entry = self.entry(name)
        if not isinstance(inputs, dict):
            raise ApiError(422, f"the inputs of `{name}` are a JSON object of parameter names to values",
                           "invalid_inputs", problems=[{"path": "", "message": "expected an object"}])
        try:
            return entry.pf.compile(target, inputs, prompt=name)
        except backends.UnknownTarget as err:
            raise ApiError(400, str(err), "unknown_target", param="target") from None
        except InputError as err:
            problems = [{"path": p.path, "message": p.message} for p in err.problems]
            raise ApiError(422, f"invalid inputs for prompt `{name}`: {len(problems)} problem"
                                f"{'' if len(problems) == 1 else 's'}", "invalid_inputs", problems=problems) from None
        except CompileError as err:
            raise ApiError(422, f"`{name}` cannot be compiled for {target}", "compile_error",
                           problems=report_json(err.diagnostics, self.base)) from None
        except (LookupError, OSError) as err:  # a target folder that is not a model, a missing file...
            raise ApiError(400, str(err), "bad_target", param="target") from None

    def inputs_schema(self, name: str) -> dict:
        """The JSON Schema of a prompt's inputs (one object, a property per parameter)."""
        return inputs_schema(self.entry(name).pf, name)

    def output_schema(self, name: str) -> dict:
        """The JSON Schema of a prompt's answer value (a string for a text prompt)."""
        entry = self.entry(name)
        output = entry.pf.prompt(name).output
        return dict(output.schema) if output is not None else {"type": "string"}


def inputs_schema(pf, name: str) -> dict:
    """A prompt's parameters as the JSON Schema of one object (compiler/schema.py), as a tool's are."""
    from ..compiler import schema
    from ..compiler import types as T
    from ..compiler.check.consts import constant_value
    from ..compiler.check.names import TypeResolver
    from ..compiler.diagnostics import Sink

    decl = pf.prompt(name).decl
    resolver = TypeResolver(pf.analysis.entry_scope, Sink(), pf.analysis.scopes)
    record = T.RecordT(f"{name}_inputs")
    for p in decl.params:
        t = resolver.resolve(p.type)
        optional = p.optional or isinstance(t, T.OptionalT)
        record.fields[p.name.name] = T.FieldT(
            p.name.name, t, required=not optional and p.default is None, description=p.description,
            default=constant_value(p.default) if p.default is not None else None, has_default=p.default is not None)
    return schema.json_schema(record)


#: report_json's answers by the identity of the report tuple (kept in the value, so an id is never
#: reused while its entry lives): a prompt compiled again gives the same report object
_REPORTS: dict[int, tuple[tuple, str | None, list[dict]]] = {}


def report_json(diagnostics, base: str | None = None) -> list[dict]:
    """Diagnostics as JSON (as `check --format json` writes them) with each one's rendered text (as
    `compile --explain` prints it); file paths relative to `base`, so no server path is shown."""
    if not diagnostics:
        return []
    if not isinstance(diagnostics, tuple):
        return _report_json(diagnostics, base)
    found = _REPORTS.get(id(diagnostics))
    if found is None or found[0] is not diagnostics or found[1] != base:
        if len(_REPORTS) >= 512:
            _REPORTS.clear()
        found = _REPORTS[id(diagnostics)] = (diagnostics, base, _report_json(diagnostics, base))
    return found[2]


def _report_json(diagnostics, base: str | None) -> list[dict]:
    from ..compiler.diagnostics import render

    out = []
    for d in diagnostics:
        item = d.to_json()
        item["rendered"] = render(d)
        path = item.get("file")
        if base and isinstance(path, str) and os.path.isabs(path) and path.startswith(base + os.sep):
            rel = os.path.relpath(path, base)
            item["file"], item["rendered"] = rel, item["rendered"].replace(path, rel)
        out.append(item)
    return out


# --- answering ----------------------------------------------------------------------------------

async def answer(compiled, worker: Worker, client_box: dict | None = None) -> Answer:
    """Send a compiled prompt to its target and return the typed answer.

    An open-model body (hf-family:<name>, hf:<dir>) runs on the local model in the worker thread
    (run/local.py: a choice output is chosen by likelihood); an API target's body is sent by
    `polyprompt.run.api.Client.asend` when that module is installed (one client per server, kept in
    `client_box`), else the answer is a 501 naming the target.
    """
    start = time.perf_counter()
    if "prompt" in compiled.body:
        result = await _on_worker(worker, _generate, compiled)
        n_prompt = len(compiled.body.get("token_ids") or ())
        usage = {"prompt_tokens": n_prompt, "completion_tokens": len(result.token_ids),
                 "total_tokens": n_prompt + len(result.token_ids)}
        return Answer(result.value, result.text, result.finish_reason, usage,
                      (time.perf_counter() - start) * 1000, result.error)
    try:
        from ..run import api  # the API client (run/api.py)
    except ImportError:
        raise ApiError(501, f"{compiled.target} is an API target, and this install cannot send to API targets "
                            "(polyprompt.run.api is missing); serve with an open-model target "
                            "(--target hf-family:smollm2 or hf:<dir>)", "target_not_supported") from None
    box = client_box if client_box is not None else {}
    if "client" not in box:
        box["client"] = api.Client()
    try:
        reply = await box["client"].asend(compiled)
    except Exception as err:  # noqa: BLE001 (the provider's error, told as one line)
        raise ApiError(502, f"{compiled.target}: {err}", "upstream_error") from None
    return Answer(reply.value, reply.text, None, reply.usage, reply.latency_ms, reply.parse_error,
                  reply.tool_calls or None)


async def _on_worker(worker: Worker, fn, *args):
    """`fn(*args)` on the worker; 429 when its queue is full, 503 when the model cannot be loaded."""
    from ..run.local import ModelUnavailable

    try:
        return await worker.run(fn, *args)
    except QueueFull as err:
        raise ApiError(429, str(err), "queue_full", headers={"Retry-After": str(err.retry_after)}) from None
    except ModelUnavailable as err:
        raise ApiError(503, f"the model cannot be loaded: {err}", "model_unavailable") from None
    except ImportError as err:
        raise ApiError(503, f"running a local model needs the torch extra (pip install 'polyprompt[torch]'): "
                            f"{err}", "model_unavailable") from None


def _generate(compiled):
    from ..run import local

    return local.generate(compiled)
