"""Sequence-level distillation data: a local teacher's answers, gathered into a column of the data.

    from polyprompt.train.teacher import teacher_answers

    summary = teacher_answers("tweets.prompt", "data/tweets.jsonl", "hf:models/big-teacher")
    print(summary.line())     # data/tweets.teacher.jsonl: 2400 rows, 2400 asked, 2398 answered, ...

Each row of the data is bound to the prompt's inputs by the file's `dataset` block (its bindings
and `where`; its `output` binding is not read), compiled for the teacher target as `polyprompt
compile` would, answered by the local model (run/local.py `generate`: a choice output by its most
likely value, others by greedy generation with the prompt's settings), and written back with the
answer in a new column, ``teacher_answer`` by default. A second `dataset` block over the new file
then binds ``output = row.teacher_answer``, and the student is trained on it as plain SFT
(docs/distillation.md). The answer is the typed output (the enum member, the parsed JSON value),
or the text for a text prompt; a reply that does not parse is written as null with the reason in
``<column>_error``, so the dataset build rejects and counts that row. Rows `where` drops are
copied unchanged, unasked. The output file is written beside its path and renamed into place
when complete: an interrupted run leaves no partial file.

Teachers here are local models (``hf:<dir>``, ``hf:<file.gguf>``, ``hf-family:smollm2``); an API
teacher (the block's ``teacher "gpt-4o"``) is the run layer's to call.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import attrs

__all__ = ["TeacherError", "TeacherSummary", "teacher_answers"]

LOCAL_PREFIXES = ("hf:", "hf-family:")


class TeacherError(Exception):
    """Answers cannot be gathered at all (no such dataset, an API teacher, unreadable data): one line."""


@attrs.define
class TeacherSummary:
    """What `teacher_answers` did: rows written, asked, answered, failed (null answers), bad rows skipped."""

    output: Path
    teacher: str
    rows: int = 0
    asked: int = 0
    answered: int = 0
    failed: int = 0
    bad: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """The summary in one line."""
        return (f"{self.output}: {self.rows} rows, {self.asked} asked, {self.answered} answered by {self.teacher}, "
                f"{self.failed} without a usable answer, {self.bad} bad rows skipped, in {self.seconds:.1f} s")


def teacher_answers(prompt_file: str | os.PathLike, rows: str | os.PathLike | Iterable[dict],
                    teacher_target: str | None = None, *, output: str | os.PathLike | None = None,
                    column: str = "teacher_answer", dataset: str | None = None,
                    max_new_tokens: int | None = None) -> TeacherSummary:
    """Ask a local teacher model for the answer of every row, and write the rows with the answers
    in `column` to `output` (JSONL; by default ``<data stem>.teacher.jsonl`` beside a data file).

    `rows` is a data file (any kind `polyprompt dataset` reads) or an iterable of dicts; `dataset`
    names the `dataset` block whose bindings turn a row into inputs (the file's first by default);
    `teacher_target` defaults to the block's ``teacher "..."``.
    """
    from ..dataset.tasks import tasks_of
    from ..session.prompt_file import load

    pf = load(prompt_file)
    task = tasks_of(pf, [dataset] if dataset else None)[0]
    target = _local_teacher(teacher_target or task.teacher, task.name)
    out = Path(output) if output is not None else _default_output(rows)
    summary = TeacherSummary(out, target)
    ask = _asker(pf, task, target, max_new_tokens)
    start = time.perf_counter()
    _write_atomically(out, _answered_rows(task, _rows(rows, summary), ask, column, summary))
    summary.seconds = time.perf_counter() - start
    return summary


def _local_teacher(target: str | None, task: str) -> str:
    """The teacher target, which must be a local model."""
    if target is None:
        raise TeacherError(f"dataset `{task}`: no teacher target given and the block names none (`teacher \"hf:<dir>\"`)")
    if not target.startswith(LOCAL_PREFIXES):
        raise TeacherError(f"the teacher {target!r} is not a local model: teacher_answers runs hf:<dir>, "
                           f"hf:<file.gguf> or hf-family:smollm2 (an API teacher's replies are gathered by the run layer)")
    return target


def _default_output(rows: Any) -> Path:
    if not isinstance(rows, (str, os.PathLike)):
        raise TeacherError("rows given as records need an output path (output=...)")
    path = Path(rows)
    return path.with_name(f"{path.stem}.teacher.jsonl")


def _rows(rows: Any, summary: TeacherSummary) -> Iterator[dict]:
    """The records of a data file (bad rows counted and skipped) or of an iterable of dicts."""
    if not isinstance(rows, (str, os.PathLike)):
        yield from rows
        return
    from ..dataset import sources

    try:
        for row in sources.read_rows(rows):
            if isinstance(row, sources.BadRow):
                summary.bad += 1
            else:
                yield row.data
    except (sources.DataError, OSError) as err:
        raise TeacherError(f"{rows}: {err}") from None


def _asker(pf: Any, task: Any, target: str, max_new_tokens: int | None):
    """A function from a row's inputs to (answer, error), the teacher loaded once."""
    from ..run import local

    model, folder = local.load_model(target)
    tokenizer = local.load_tokenizer(str(folder))
    text_output = task.prompt.output is None or task.prompt.output.is_text

    def ask(inputs: dict) -> tuple[Any, str | None]:
        compiled = pf.compile(target, inputs, prompt=task.prompt.name)
        reply = local.generate(compiled, max_new_tokens, model=model, tokenizer=tokenizer)
        if reply.error is not None:
            return None, reply.error
        return (reply.text if text_output else reply.value), None

    return ask


def _answered_rows(task: Any, rows: Iterable[dict], ask: Any, column: str, summary: TeacherSummary) -> Iterator[dict]:
    """Each row with the teacher's answer in `column` (rows `where` drops: as they are)."""
    from ..dataset.align import RowProblem

    for row in rows:
        summary.rows += 1
        answer: Any = None
        try:
            if not task.keeps(row):
                yield row
                continue
            inputs = _inputs(task, row)
        except RowProblem as problem:  # the row cannot be asked: written with the reason
            error: str | None = f"{problem.field}: {problem.reason}"
        else:
            summary.asked += 1
            answer, error = ask(inputs)
        summary.failed += error is not None
        summary.answered += error is None
        yield {**row, column: answer, **({f"{column}_error": error} if error is not None else {})}


def _inputs(task: Any, row: dict) -> dict:
    """The prompt's inputs for a row, by the block's bindings, checked against the parameter types."""
    from ..compiler.inputs import InputError
    from ..dataset.align import RowProblem

    env = {"row": row}
    raw = {}
    for name, fn in task.bindings.items():
        try:
            raw[name] = fn(env)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise RowProblem(name, f"cannot be evaluated ({err})") from None
    if task.check_inputs is None:
        return raw
    try:
        return task.check_inputs(task.prompt, raw)
    except InputError as err:
        raise RowProblem(err.problems[0].path, err.problems[0].message) from None


def _write_atomically(out: Path, rows: Iterable[dict]) -> None:
    """JSON lines into a hidden file beside `out`, renamed into place once complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
