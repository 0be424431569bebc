"""Run an evaluation: every target answers every row, each answer is scored, and the targets are
compared on the rows they share.

    report = evaluate("review_moderation.prompt", ["openai-chat", "hf-family:smollm2"],
                      split="validation", replies="replies.jsonl")
    report.write("eval-out")       # report.json, predictions.jsonl, plots
    print(report.table())

A target that fails mid-run (its model does not load, a crash) keeps the rows it answered and the
report is marked partial; a row a target cannot answer (no recorded reply, inputs the target
refuses) is wrong and counted in `errors`.
"""
from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Mapping, Sequence

import attrs

from ..compiler.inputs import InputError
from ..session.compiled import CompileError
from . import metrics
from .rows import Rows, load_rows
from .choose import make_target
from .targets import Answer, EvalError, TargetFailed, read_replies

#: rows compiled and answered together (a local model's batched path scores them in one pass)
BATCH_SIZE = 8

#: progress(label, rows done, rows in all, seconds so far)
Progress = Callable[[str, int, int, float], None]


@attrs.define
class TargetRun:
    """What one target answered: an Answer per row number (in row order), and why it stopped early."""
    target: Any
    answers: dict[int, Answer] = attrs.Factory(dict)
    failure: str | None = None
    seconds: float = 0.0

    @property
    def label(self) -> str:
        """The target's label in the report."""
        return self.target.label


def evaluate(file: str, targets: Sequence[Any], *, prompt: str | None = None, dataset: str | None = None,
             split: str | None = None, data: str | None = None, bind: Sequence[str] = (), where: str | None = None,
             limit: int | None = None, replies: str | None = None, options: metrics.Options | None = None,
             fail_under: Mapping[str, float] | None = None, progress: Progress | None = None,
             batch_size: int = BATCH_SIZE, api: Mapping[str, Any] | None = None, judge: Any = None) -> Any:
    """Evaluate a prompt file's prompt on every target (see the module docstring): a `Report`.

    The rows are a `dataset` block of the file (`dataset`, `split`) or `data` with `bind`
    (`NAME=EXPR`, `output=row.label` the expected answer); `targets` are target names, or
    `LABEL=TARGET`, or target objects of your own (with `label`, `target`, `kind`, `answer_rows`
    and `test_answer`, as targets.py's); `replies` a recorded-replies file; `fail_under` gates
    (metric -> threshold); `batch_size` the rows a local model scores or generates in one batch
    (and the rows compiled at once); `api` the settings of API targets sent over HTTP
    (`concurrency`, `base_url`, `cache`: a `run.cache.ReplyCache` or None; evaluate/api_target.py);
    `judge` a `Judge` (evaluate/judge.py) that grades free-text answers with a rubric prompt.
    EvalError when the evaluation cannot start."""
    from .report import Report, check_gates

    if not targets:
        raise EvalError("give at least one target (-t)")
    rows = load_rows(file, prompt=prompt, dataset=dataset, split=split, data=data, bind=tuple(bind), where=where,
                     limit=limit)
    recorded = read_replies(replies) if replies else None
    if batch_size < 1:
        raise EvalError(f"the batch size must be at least 1, not {batch_size}")
    chosen = [make_target(spec, recorded, dict(api or {}), batch_size) if isinstance(spec, str) else spec
              for spec in targets]
    _check_labels(chosen)
    if recorded is not None:
        _check_reply_rows(recorded, rows, replies or "")
    options = options or metrics.Options()
    output = rows.file.prompt(rows.prompt).output
    rubric = None
    if judge is not None:  # checked before any target runs: a bad rubric costs no request
        from .judge import load_judge

        rubric = load_judge(judge, rows, output, [t.label for t in chosen], dict(api or {}), batch_size)
    check_gates(dict(fail_under or {}), output, judged=rubric is not None)
    runs = [run_target(t, rows, progress, batch_size) for t in chosen]
    graded = None
    if rubric is not None:
        from .judge import grade_run

        graded = [grade_run(rubric, run, rows, run_target, progress, batch_size) for run in runs]
    expects = run_expects(rows, chosen)
    return Report.build(file, rows, output, runs, expects, options, dict(fail_under or {}), rubric, graded)


def _check_labels(chosen: list) -> None:
    seen = set()
    for t in chosen:
        if t.label in seen:
            raise EvalError(f"the target `{t.label}` is given twice; tell two apart with LABEL=TARGET")
        seen.add(t.label)


def _check_reply_rows(recorded: Any, rows: Rows, path: str) -> None:
    """A reply for a row the data does not hold is an error (replies recorded for other data)."""
    have = rows.numbers
    span = f"rows 1-{max(have)}" if have else "no rows"
    for target, by_row in recorded.rows.items():
        for number in sorted(by_row):
            if number not in have:
                raise EvalError(f"{path}:{recorded.lines[(target, number)]}: a reply of {target} for row {number}, "
                                f"but the data has {span} (rows are numbered from 1, as in the data file)")


def run_target(target: Any, rows: Rows, progress: Progress | None = None, batch_size: int = BATCH_SIZE) -> TargetRun:
    """Every row answered by one target, in batches (at least the `rows_at_once` a target asks for:
    an API target's concurrency); a failure stops it and is kept on the run."""
    run = TargetRun(target)
    start = time.perf_counter()
    total = len(rows.rows)
    for chunk in _chunks(rows.rows, max(batch_size, getattr(target, "rows_at_once", 0))):
        compiled, numbers = [], []
        for row in chunk:
            try:
                compiled.append(rows.file.compile(target.target, row.inputs, prompt=rows.prompt))
                numbers.append(row.number)
            except InputError as err:  # this row's inputs: the other rows may still compile
                run.answers[row.number] = Answer(error=f"the inputs do not compile: {err}")
            except (CompileError, LookupError, OSError) as err:  # the target cannot take the prompt at all
                run.failure = f"{target.label} cannot compile the prompt: {str(err).splitlines()[0]}"
                break
        if run.failure is None and compiled:
            try:
                for number, answer in zip(numbers, target.answer_rows(compiled, numbers)):
                    run.answers[number] = answer
            except TargetFailed as err:
                run.failure = str(err)
        run.seconds = time.perf_counter() - start
        if progress is not None:
            progress(target.label, len(run.answers), total, run.seconds)
        if run.failure is not None:
            break
    run.answers = {r.number: run.answers[r.number] for r in rows.rows if r.number in run.answers}
    return run


def _chunks(items: list, size: int):
    it = iter(items)
    while chunk := list(itertools.islice(it, max(size, 1))):
        yield chunk


def run_expects(rows: Rows, chosen: list) -> list[dict]:
    """The `expect` clauses of the prompt's `test` blocks, checked against every target's answer."""
    from ..session.prompt_tests import cases_of

    out = []
    cases = [c for c in cases_of([(rows.file.path, rows.file)]) if c.decl.prompt.name == rows.prompt]
    for target in chosen:
        for case in cases:
            for outcome in case.check_expects(target.target, target.test_answer(case.title)):
                out.append({"test": case.title, "target": target.label, "passed": outcome.passed,
                            "message": outcome.message, "skipped": outcome.skipped})
    return out
