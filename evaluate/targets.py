"""The targets of an evaluation: what answers each row.

* `RepliesTarget`: an API target evaluated from recorded replies (`--replies FILE`, a JSONL of
  `{"row": N, "target": T, "reply": <the provider's raw reply JSON, or its text>}`; a line may
  carry `latency_ms`, and `{"test": TITLE, ...}` instead of `row` answers a `test` block). Each
  reply is read with the target's own reply reader (`session.compiled.parse_reply`) and parsed into
  the output type, tolerant for targets that got the schema as instructions.
* `LocalTarget`: an `hf:` / `hf-family:` model run by run/local.py: `choose` (log-likelihood of
  each allowed value) for a choice output, `generate` otherwise. `answer_rows` answers a batch of
  compiled rows; it uses run/'s batched path when run/ has one (`run.batched.choose_many` for a
  choice, `generate_many` otherwise, `batch_size` rows per forward pass), else the per-row function
  `run_one`, which a caller may swap.

A target that cannot answer at all raises `TargetFailed` (the runner keeps what was answered and
marks the report partial); a row it cannot answer is an `Answer` with `error` set (wrong, counted).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import attrs

from ..compiler.files import read_regular
from ..compiler.replies import ReplyError, parse_output
from ..session.compiled import parse_reply

#: the largest replies file read (bytes)
REPLIES_LIMIT = 1024 * 1024 * 1024


class EvalError(Exception):
    """An evaluation that cannot start: bad options, data or replies; the message says which and why."""


class TargetFailed(Exception):
    """A target that stopped answering (a model that does not load, a crash mid-run)."""


@attrs.frozen
class Answer:
    """A target's answer to one row: the parsed `value`, the reply `text`, `parse_error` when the
    reply does not fit the output type, `error` when there is no reply, latency and token counts."""
    value: Any = None
    text: str | None = None
    parse_error: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    tokens: tuple[int, int] | None = None  # (input, output)

    @property
    def answered(self) -> bool:
        """Whether the reply parsed into a value of the output type."""
        return self.error is None and self.parse_error is None


def parse_text(compiled: Any, text: str, tolerant: bool) -> tuple[Any, str | None]:
    """(value, parse error) of a reply text for the compiled prompt's output type."""
    output = compiled.request.output
    if output is None or output.is_text:
        return text, None
    try:
        return parse_output(text, output, tolerant), None
    except ReplyError as err:
        from ..run.local import choice_forms

        # a choice answered with its bare word (what `std.output.one_of` asks for) is an answer,
        # as run/local.py reads a freely generated choice
        for value, spellings in choice_forms(output.type, asks_json=False) or ():
            if text.strip() in spellings:
                return value, None
        return None, str(err)


def usage_of(reply: Any) -> tuple[int, int] | None:
    """(input, output) tokens of a provider reply, from whichever usage field its API has."""
    if not isinstance(reply, dict):
        return None
    for block, keys in (("usage", ("prompt_tokens", "completion_tokens")), ("usage", ("input_tokens", "output_tokens")),
                        ("usage", ("inputTokens", "outputTokens")),
                        ("usageMetadata", ("promptTokenCount", "candidatesTokenCount")),
                        (None, ("prompt_eval_count", "eval_count"))):
        source = reply.get(block) if block else reply
        if isinstance(source, dict) and all(isinstance(source.get(k), int) for k in keys):
            return int(source[keys[0]]), int(source[keys[1]])
    return None


# --- recorded replies ---------------------------------------------------------------------------------

@attrs.define
class Recorded:
    """The replies of a replies file, by target: rows (row number -> line) and tests (title -> line)."""
    rows: dict[str, dict[int, dict]] = attrs.Factory(dict)
    tests: dict[str, dict[str, dict]] = attrs.Factory(dict)
    lines: dict[tuple[str, int], int] = attrs.Factory(dict)  # (target, row) -> line number, for errors

    def add(self, line: dict, number: int, where: str) -> None:
        """One checked line (see `reply_lines`); EvalError for a second reply of a target for a row."""
        target = line["target"]
        if isinstance(line.get("test"), str):
            self.tests.setdefault(target, {})[line["test"]] = line
            return
        row = line.get("row")
        if not isinstance(row, int) or isinstance(row, bool):
            raise EvalError(f"{where}: `row` must be a row number (an integer), got {json.dumps(row)[:40]}")
        if row in self.rows.setdefault(target, {}):
            raise EvalError(f"{where}: a second reply of {target} for row {row} "
                            f"(the first is on line {self.lines[(target, row)]})")
        self.rows[target][row] = line
        self.lines[(target, row)] = number


def reply_lines(path: str | Path):
    """(line number, line, "path:number") of every reply of a replies file, each a JSON object with
    `target` and `reply`; EvalError naming the line when one is malformed."""
    try:
        data = read_regular(Path(path), REPLIES_LIMIT).decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EvalError(f"{path}: cannot read the replies ({err})") from None
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError) as err:
            raise EvalError(f"{path}:{number}: not JSON ({err})") from None
        where = f"{path}:{number}"
        if not isinstance(line, dict) or not isinstance(line.get("target"), str) or "reply" not in line:
            raise EvalError(f"{where}: a line is {{\"row\": N, \"target\": T, \"reply\": ...}}")
        yield number, line, where


def read_replies(path: str | Path) -> Recorded:
    """A replies file (see the module docstring); EvalError naming the line when one is malformed."""
    out = Recorded()
    for number, line, where in reply_lines(path):
        out.add(line, number, where)
    return out


@attrs.define
class RepliesTarget:
    """An API target answered from recorded replies (see the module docstring)."""
    label: str
    target: str
    rows: dict[int, dict]
    tests: dict[str, dict] = attrs.Factory(dict)
    kind: str = "replies"

    def answer(self, compiled: Any, row: int) -> Answer:
        """The recorded reply of a row, read and parsed; an error Answer when there is none."""
        line = self.rows.get(row)
        if line is None:
            return Answer(error=f"no recorded reply of {self.label} for row {row}")
        return self.read(compiled, line)

    def answer_rows(self, compiled: Sequence[Any], rows: Sequence[int]) -> list[Answer]:
        """The answers of several rows."""
        return [self.answer(c, r) for c, r in zip(compiled, rows)]

    def read(self, compiled: Any, line: dict) -> Answer:
        """One recorded line read with the target's reply reader and parsed into the output type."""
        reply = line["reply"]
        latency = line.get("latency_ms")
        latency = float(latency) if isinstance(latency, (int, float)) and not isinstance(latency, bool) else None
        backend = compiled.backend
        tolerant = backend.caps.structured_output is None
        if isinstance(reply, str):  # the reply's text, as recorded
            text = reply
        else:
            try:
                text = parse_reply(backend, reply).text
            except ReplyError as err:
                return Answer(parse_error=str(err), latency_ms=latency, tokens=usage_of(reply))
        value, problem = parse_text(compiled, text, tolerant)
        return Answer(value, text, problem, latency_ms=latency, tokens=usage_of(reply))

    def test_answer(self, title: str) -> Callable[[Any], Any]:
        """The answer function of a `test` block (session/prompt_tests.py): its recorded reply, parsed."""
        from ..session.prompt_tests import Unanswered

        def answer(compiled):
            line = self.tests.get(title)
            if line is None:
                raise Unanswered(f"no recorded reply of {self.label} for the test")
            got = self.read(compiled, line)
            if not got.answered:
                raise ReplyError(got.parse_error or got.error or "no reply")
            return got.value

        return answer


# --- local models -------------------------------------------------------------------------------------

def run_one(compiled: Any) -> Any:
    """One row on its local model: run/local.py's `generate` (which chooses for a choice output)."""
    from ..run import local

    _quiet_transformers()
    return local.generate(compiled)


def _batched() -> Any:
    """run/batched.py (choices scored in one forward pass per batch: `choose_many`; text generated in
    batches: `generate_many`; the same answers as `local.generate`) when run/ has it; None otherwise."""
    import importlib

    try:
        return importlib.import_module(__name__.rsplit(".", 2)[0] + ".run.batched")
    except ImportError:
        return None


def _is_choice(compiled: Any) -> bool:
    """Whether a compiled prompt's output is a choice (enum, literal union, bool), scored, not generated."""
    from ..run.local import choice_forms

    output = compiled.request.output
    return output is not None and not output.is_text and choice_forms(output.type, asks_json=False) is not None


def run_batched(module: Any, compiled: list, batch_size: int) -> list:
    """The run results of compiled rows by run/batched.py, `batch_size` rows per forward pass:
    `choose_many` when every row is a choice, else `generate_many` (which still chooses the choices)."""
    if compiled and all(_is_choice(c) for c in compiled) and hasattr(module, "choose_many"):
        return list(module.choose_many(compiled, batch_size=batch_size))
    return list(module.generate_many(compiled, batch_size=batch_size))


def _quiet_transformers() -> None:
    """No progress bars or warnings from transformers over the evaluation's own table."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


@attrs.define
class LocalTarget:
    """An `hf:` / `hf-family:` model run locally (see the module docstring). `run` is the per-row
    function (compiled -> run.local.RunResult); `batch_size` the rows of one forward pass on the
    batched path (`--batch-size`)."""
    label: str
    target: str
    run: Callable[[Any], Any] = run_one
    kind: str = "local"
    batch_size: int = 8

    def answer(self, compiled: Any, row: int = 0) -> Answer:
        """One row's answer; TargetFailed when the model cannot run at all."""
        return self.answer_rows([compiled], [row])[0]

    def answer_rows(self, compiled: Sequence[Any], rows: Sequence[int]) -> list[Answer]:
        """The answers of a batch of rows: run/'s batched path when present, else one row at a time."""
        from ..run import local

        batched = _batched() if self.run is run_one else None
        try:
            if batched is not None:
                start = time.perf_counter()
                results = run_batched(batched, list(compiled), self.batch_size)
                each = (time.perf_counter() - start) * 1000 / max(len(results), 1)
                return [self._answer(r, c, each) for r, c in zip(results, compiled)]
            out = []
            for c in compiled:
                start = time.perf_counter()
                result = self.run(c)
                out.append(self._answer(result, c, (time.perf_counter() - start) * 1000))
            return out
        except (local.ModelUnavailable, ImportError, OSError, RuntimeError, MemoryError) as err:
            raise TargetFailed(f"{self.label}: {err}") from None

    @staticmethod
    def _answer(result: Any, compiled: Any, latency: float) -> Answer:
        prompt_ids = compiled.body.get("token_ids")
        tokens = (len(prompt_ids), len(result.token_ids)) if prompt_ids is not None else None
        if result.error:
            return Answer(text=result.text, parse_error=result.error, latency_ms=latency, tokens=tokens)
        return Answer(result.value, result.text, latency_ms=latency, tokens=tokens)

    def test_answer(self, title: str) -> Callable[[Any], Any]:
        """The answer function of a `test` block: the model's answer (skipped when it cannot run)."""
        return answering_tests(self.answer)


def answering_tests(answer_one: Callable[[Any], Answer]) -> Callable[[Any], Any]:
    """The answer function of a `test` block for a target that answers a compiled prompt live (a
    local model, an API): its value; skipped (`Unanswered`) when the target fails or cannot answer,
    a ReplyError when the reply does not parse."""
    from ..session.prompt_tests import Unanswered

    def answer(compiled):
        try:
            got = answer_one(compiled)
        except TargetFailed as err:
            raise Unanswered(str(err)) from None
        if got.error is not None:
            raise Unanswered(got.error)
        if not got.answered:
            raise ReplyError(f"{got.parse_error} (it answered {(got.text or '')[:200]!r})")
        return got.value

    return answer


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values, linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
