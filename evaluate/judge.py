"""The judge of free-text outputs: a rubric prompt, written in the language, grades every answer.

    judge = Judge("rubric.prompt:grade", "openai-chat", replies="judge_replies.jsonl")
    report = evaluate("answer.prompt", ["openai-chat", "hf-family:smollm2"], judge=judge)

As promptfoo's `llm-rubric` and OpenAI Evals' model-graded evals, but typed: the rubric is a
prompt of a `.prompt` file, and its parameters and output type are checked when it is loaded.

- Parameters bind by name: `answer` (required) is the graded target's reply; `expected` the row's
  expected output; any other parameter the evaluated prompt's input of the same name, or the input
  `bind` names for it (`{"question": "ticket"}`), or else its default.
- The output is the grade: a record with `pass: bool` and, optionally, a number `score` and a
  string `reason` (other fields are kept); a bool (true passes); or an enum or literal union, whose
  passing values are `passing` (by default the value `pass`, when there is one).

The judge is a target of targets.py / api_target.py (recorded replies, a local model, an API over
HTTP with the reply cache), chosen by choose.py as `-t` targets are. A row the graded target did
not answer is not sent and does not pass; a judge reply that does not parse into the grade is
counted apart (`parse_failures`) and does not pass; a judge that stops mid-run keeps the grades it
gave and the report is marked partial.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import attrs

from ..compiler import types as T
from . import intervals, metrics
from .choose import check_target, make_target, split_label
from .rows import Row, Rows
from .targets import Answer, EvalError, Recorded, RepliesTarget, percentile, reply_lines

#: the parameter that receives the graded answer, and the one that receives the expected output
ANSWER, EXPECTED = "answer", "expected"
#: the judge's metrics in report.json (gates may use them)
METRICS = ("judge_pass_rate", "judge_score", "judge_parse_failure_rate")


@attrs.frozen
class Judge:
    """A judge: `rubric` is `FILE` or `FILE:PROMPT` (the file's first prompt by default), `target`
    `[LABEL=]TARGET` the target that answers it, `replies` its recorded replies (JSONL as
    `--replies`, with `"graded": LABEL` naming the target whose answer a line grades), `bind`
    rubric parameter -> the evaluated prompt's input, `passing` the passing values of an enum grade."""
    rubric: str
    target: str
    replies: str | None = None
    bind: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    passing: tuple[str, ...] = attrs.field(default=(), converter=lambda v: (v,) if isinstance(v, str) else tuple(v))


@attrs.frozen
class Grade:
    """The judge's grade of one row: `passed`, `score` and `reason` when the grade has them, the
    parsed `value`; `parse_error` when the judge's reply is not a grade; `error` when there is none."""
    passed: bool = False
    score: float | None = None
    reason: str | None = None
    value: Any = None
    parse_error: str | None = None
    error: str | None = None
    graded: bool = True  # False: the target gave no answer, so nothing was sent to the judge

    def to_json(self) -> dict:
        """The grade as predictions.jsonl holds it."""
        return {"pass": self.passed, "score": self.score, "reason": self.reason, "value": self.value,
                "parse_error": self.parse_error, "error": self.error}


@attrs.define
class Graded:
    """The judge's grades of one target's answers (row number -> Grade), its answers, and why it stopped."""
    label: str
    grades: dict[int, Grade] = attrs.Factory(dict)
    answers: list[Answer] = attrs.Factory(list)
    failure: str | None = None
    seconds: float = 0.0


# --- loading and checking the rubric ------------------------------------------------------------------

@attrs.define
class Rubric:
    """A loaded judge: the rubric prompt, how its parameters bind, how its output reads as a grade."""
    judge: Judge
    file: Any
    path: str                        # the rubric file as given
    prompt: str
    sources: dict[str, str]          # parameter -> "answer", "expected" or the evaluated prompt's input
    shape: str                       # "record", "bool" or "choice"
    passing: frozenset = frozenset()
    score_field: str | None = None
    reason_field: str | None = None
    recorded: dict[str | None, Recorded] | None = None  # graded label (None: any) -> the judge's replies
    live: Any = None                 # the judge target when it is run, shared by every graded target

    @property
    def label(self) -> str:
        """The judge target's label."""
        return split_label(self.judge.target)[0]

    def describe(self) -> dict:
        """report.json's `judge`: the rubric, the judge target and how the rubric binds."""
        label, target = split_label(self.judge.target)
        return {"rubric": f"{self.path}:{self.prompt}", "label": label, "target": target,
                "bind": dict(self.sources), "grade": self.shape, "passing": sorted(self.passing) or None,
                "replies": self.judge.replies}


def load_judge(judge: Judge, rows: Rows, output: Any, labels: Sequence[str], api: dict | None = None,
               batch_size: int = 8) -> Rubric:
    """The judge checked before anything runs: the evaluated output is free text, the rubric loads,
    its parameters bind and its output is a grade, the judge target exists, its replies fit."""
    if metrics.output_kind(output) != "text":
        raise EvalError(f"--judge grades free-text answers; `{rows.prompt}` returns {output.type}, "
                        f"whose answers are scored against the expected value exactly")
    pf, path, name = _load_rubric(judge.rubric)
    decl = pf.prompt(name).decl
    where = _where(decl)
    sources = _bind(pf, decl, where, rows, judge.bind)
    rubric = Rubric(judge, pf, path, name, sources, *_grade_shape(pf.prompt(name).output, where, judge.passing))
    label, target = split_label(judge.target)
    check_target(target)
    if judge.replies is not None:
        rubric.recorded = read_judge_replies(judge.replies, label, target, labels, rows)
    else:
        rubric.live = make_target(judge.target, None, dict(api or {}), batch_size)
    return rubric


def _load_rubric(spec: str) -> tuple[Any, str, str]:
    """The rubric's file, its path and the prompt name of `FILE[:PROMPT]`."""
    from ..session.compiled import CompileError
    from ..session.prompt_file import load

    path, prompt = spec, None
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isidentifier() and not Path(spec).is_file():
        path, prompt = head, tail
    if not Path(path).is_file():
        raise EvalError(f"--judge {spec}: no rubric file {path} (write FILE or FILE:PROMPT)")
    pf = load(path)
    try:
        compiled = pf.prompt(prompt)
    except CompileError as err:
        raise EvalError(f"the rubric {path} has errors:\n{err}") from None
    except LookupError as err:
        raise EvalError(f"--judge {spec}: {str(err).strip(chr(39) + chr(34))}") from None
    return pf, path, compiled.name


def _where(node: Any) -> str:
    """`file:line:col` of a node of the rubric's source."""
    line, col = node.span.start_line_col
    return f"{node.span.file.path}:{line}:{col}"


def _types(pf: Any, decl: Any) -> dict[str, Any]:
    """The resolved type of each parameter of a prompt of `pf`."""
    from ..compiler.check.names import TypeResolver
    from ..compiler.diagnostics import Sink

    resolver = TypeResolver(pf.analysis.entry_scope, Sink(), pf.analysis.scopes)
    return {p.name.name: _optional(resolver.resolve(p.type), p.optional) for p in decl.params}


def _optional(t: Any, optional: bool) -> Any:
    return T.OptionalT(t) if optional and not isinstance(t, T.OptionalT) else t


def _bind(pf: Any, decl: Any, where: str, rows: Rows, bind: Mapping[str, str]) -> dict[str, str]:
    """rubric parameter -> its source (`answer`, `expected` or an input of the evaluated prompt);
    EvalError saying which parameter cannot bind, and how to bind it."""
    mine = _types(pf, decl)
    theirs = _types(rows.file, rows.file.prompt(rows.prompt).decl)
    name = decl.name.name
    for param in bind:
        if param not in mine:
            raise EvalError(f"--judge-bind {param}=...: the rubric prompt `{name}` ({where}) has no parameter "
                            f"`{param}`; its parameters: {', '.join(mine) or 'none'}")
    sources: dict[str, str] = {}
    for param in decl.params:
        pname, at = param.name.name, _where(param)
        source = bind.get(pname, pname)
        if source not in (ANSWER, EXPECTED) and source not in theirs:
            if pname in bind:
                raise EvalError(f"--judge-bind {pname}={source}: `{source}` is not `{ANSWER}`, `{EXPECTED}` nor "
                                f"an input of `{rows.prompt}` ({', '.join(theirs) or 'none'})")
            if param.optional or param.default is not None:
                continue  # its default applies
            raise EvalError(f"{at}: the rubric's parameter `{pname}` binds nothing: it is not `{ANSWER}`, "
                            f"`{EXPECTED}` nor an input of `{rows.prompt}` ({', '.join(theirs) or 'none'}); "
                            f"rename it, give it a default, or --judge-bind {pname}=INPUT")
        given = T.STR if source in (ANSWER, EXPECTED) else theirs[source]
        if not T.assignable(given, mine[pname]):
            what = {ANSWER: "the graded answer", EXPECTED: "the expected output"}.get(
                source, f"the input `{source}` of `{rows.prompt}`")
            raise EvalError(f"{at}: the rubric's parameter `{pname}: {mine[pname]}` cannot take {what}, "
                            f"a {given}")
        sources[pname] = source
    if ANSWER not in sources.values():
        raise EvalError(f"{where}: the rubric prompt `{name}` must take `{ANSWER}: str`, the graded answer "
                        f"(and may take `{EXPECTED}: str` and inputs of `{rows.prompt}` by name), "
                        f"or --judge-bind PARAM={ANSWER}")
    return sources


def _grade_shape(output: Any, where: str, passing: Sequence[str]) -> tuple:
    """(shape, passing values, score field, reason field) of the rubric's output; EvalError otherwise."""
    grade = T.strip_optional(output.type) if output is not None and not output.is_text else None
    if isinstance(grade, T.RecordT) and "pass" in grade.fields:
        fields = grade.fields
        if T.strip_optional(fields["pass"].type) != T.BOOL:
            raise EvalError(f"{where}: the grade's field `pass` must be a bool, not {fields['pass'].type}")
        score = "score" if "score" in fields else None
        if score and metrics.type_kind(fields["score"].type) != "number":
            raise EvalError(f"{where}: the grade's field `score` must be a number, not {fields['score'].type}")
        reason = "reason" if "reason" in fields else None
        if reason and not T.assignable(fields["reason"].type, T.OptionalT(T.STR)):
            raise EvalError(f"{where}: the grade's field `reason` must be a str, not {fields['reason'].type}")
        _no_passing(passing, where, "a record")
        return "record", frozenset(), score, reason
    if grade == T.BOOL:
        _no_passing(passing, where, "a bool")
        return "bool", frozenset()
    if isinstance(grade, (T.EnumT, T.LiteralT)):
        values = metrics.classes_of(grade)
        chosen = list(passing) or (["pass"] if "pass" in values else [])
        if not chosen:
            raise EvalError(f"{where}: the rubric returns {grade}: say which of its values pass with "
                            f"--judge-pass VALUE ({', '.join(values)})")
        unknown = [v for v in chosen if v not in values]
        if unknown:
            raise EvalError(f"--judge-pass {unknown[0]}: not a value of {grade} ({', '.join(values)})")
        return "choice", frozenset(chosen)
    shown = "text" if grade is None else str(output.type)
    raise EvalError(f"{where}: the rubric returns {shown}, not a grade: return a record with `pass: bool` "
                    f"(and optionally `score: float`, `reason: str`), a bool, or an enum with --judge-pass")


def _no_passing(passing: Sequence[str], where: str, what: str) -> None:
    if passing:
        raise EvalError(f"--judge-pass: the rubric ({where}) returns {what}, whose grade says itself whether it "
                        f"passes; --judge-pass is for enum grades")


def read_judge_replies(path: str, label: str, target: str, labels: Sequence[str], rows: Rows
                       ) -> dict[str | None, Recorded]:
    """The judge's recorded replies by graded label (None: a line without `graded`, which only one
    evaluated target allows); EvalError naming the line for another judge, an unknown label or row."""
    out: dict[str | None, Recorded] = {}
    for number, line, where in reply_lines(path):
        if line["target"] not in (label, target):
            raise EvalError(f"{where}: a reply of {line['target']}, but the judge is {label}")
        graded = line.get("graded")
        if graded is None and len(labels) > 1:
            raise EvalError(f"{where}: say whose answer it grades: \"graded\": one of {', '.join(labels)}")
        if graded is not None and graded not in labels:
            raise EvalError(f"{where}: \"graded\": {graded!r} is not an evaluated target ({', '.join(labels)})")
        row = line.get("row")
        if isinstance(row, int) and not isinstance(row, bool) and row not in rows.numbers:
            raise EvalError(f"{where}: a judge reply for row {row}, which the data does not hold")
        out.setdefault(graded, Recorded()).add({**line, "target": label}, number, where)
    return out


# --- grading ------------------------------------------------------------------------------------------

def grade_run(rubric: Rubric, run: Any, rows: Rows, run_target: Callable[..., Any], progress: Any = None,
              batch_size: int = 8) -> Graded:
    """The judge's grade of every row a target's run answered (see the module docstring), the rubric's
    rows answered by `run_target` (runner.py's: batches, compile errors per row, a failure kept)."""
    by_number = {r.number: r for r in rows.rows}
    out = Graded(run.label)
    sent: list[Row] = []
    for number, answer in run.answers.items():
        if not answer.answered:
            out.grades[number] = Grade(error="the target gave no answer to grade", graded=False)
            continue
        sent.append(Row(number, _inputs(rubric, by_number[number], answer), None))
    if not sent:
        return out
    judged = Rows(rubric.file, rubric.prompt, "judge", None, sent, {r.number for r in sent})
    start = time.perf_counter()
    done = run_target(_target_for(rubric, run.label), judged, _progress(progress, rubric.label, run.label),
                      batch_size)
    out.seconds, out.failure = time.perf_counter() - start, done.failure
    for number, answer in done.answers.items():
        out.grades[number] = _grade(rubric, answer)
        out.answers.append(answer)
    out.grades = {n: out.grades[n] for n in run.answers if n in out.grades}
    return out


def _inputs(rubric: Rubric, row: Row, answer: Answer) -> dict:
    """The rubric's inputs for one row: the answer, the expected output, the row's bound inputs."""
    values = {}
    for param, source in rubric.sources.items():
        if source == ANSWER:
            values[param] = answer.value if isinstance(answer.value, str) else answer.text
        elif source == EXPECTED:
            values[param] = row.expected
        elif source in row.inputs:
            values[param] = row.inputs[source]
    return values


def _target_for(rubric: Rubric, label: str) -> Any:
    """The judge target grading `label`'s answers: its recorded replies, or the live target."""
    if rubric.recorded is None:
        return rubric.live
    judge_label, target = split_label(rubric.judge.target)
    recorded = rubric.recorded.get(label) or rubric.recorded.get(None) or Recorded()
    return RepliesTarget(judge_label, target, recorded.rows.get(judge_label, {}))


def _progress(progress: Any, judge: str, graded: str) -> Any:
    if progress is None:
        return None
    return lambda _label, done, total, seconds: progress(f"judge {judge} on {graded}", done, total, seconds)


def _grade(rubric: Rubric, answer: Answer) -> Grade:
    """A judge's answer read as a grade."""
    if answer.error is not None:
        return Grade(error=answer.error)
    if answer.parse_error is not None:
        return Grade(parse_error=answer.parse_error, value=answer.text)
    value = answer.value
    if rubric.shape == "bool":
        return Grade(passed=value is True, value=value)
    if rubric.shape == "choice":
        return Grade(passed=metrics.label_of(value) in rubric.passing, value=value)
    score = value.get(rubric.score_field) if rubric.score_field else None
    reason = value.get(rubric.reason_field) if rubric.reason_field else None
    number = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    return Grade(passed=value.get("pass") is True, score=number, reason=reason if isinstance(reason, str) else None,
                 value=value)


# --- scores -------------------------------------------------------------------------------------------

def scores(graded: Graded, options: metrics.Options) -> tuple[dict[str, dict], dict]:
    """(the judge's metrics, the judge entry of the target) of one target's grades."""
    grades = list(graded.grades.values())
    sent = [g for g in grades if g.graded]
    out = {"judge_pass_rate": metrics.proportion([g.passed for g in grades]),
           "judge_parse_failure_rate": metrics.proportion([g.parse_error is not None for g in sent])}
    scored = [g.score for g in sent if g.score is not None]
    if scored:
        import numpy as np

        values = np.asarray(scored, dtype=float)
        out["judge_score"] = metrics.bootstrapped(lambda idx: values[idx].mean(axis=1), len(scored), options)
    latencies = [a.latency_ms for a in graded.answers if a.latency_ms is not None]
    tokens = [a.tokens for a in graded.answers if a.tokens is not None]
    entry = {"graded": len(sent), "ungraded": len(grades) - len(sent),
             "passed": sum(g.passed for g in grades),
             "parse_failures": sum(g.parse_error is not None for g in sent),
             "errors": sum(g.error is not None for g in sent),
             "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)} if latencies else None,
             "tokens": {"input": sum(t[0] for t in tokens), "output": sum(t[1] for t in tokens)} if tokens else None,
             "seconds": round(graded.seconds, 3), "failure": graded.failure}
    return out, entry


def comparisons(graded: Sequence[Graded], options: metrics.Options) -> list[dict]:
    """Every pair of targets on the rows the judge considered for both: McNemar on passing, with
    the paired bootstrap's interval of the difference in pass rate."""
    import numpy as np

    out = []
    for i, a in enumerate(graded):
        for b in graded[i + 1:]:
            common = [n for n in a.grades if n in b.grades]
            if not common:
                continue
            pa = np.array([a.grades[n].passed for n in common], dtype=float)
            pb = np.array([b.grades[n].passed for n in common], dtype=float)
            diff = intervals.paired_bootstrap(lambda idx: pa[idx].mean(axis=1), lambda idx: pb[idx].mean(axis=1),
                                              len(common), options.resamples, options.seed)
            test = intervals.mcnemar(pa.astype(bool), pb.astype(bool))
            out.append({"a": a.label, "b": b.label, "metric": "judge_pass_rate", "difference": diff.difference,
                        "low": diff.low, "high": diff.high, "p_value": test.p_value, "test": "mcnemar",
                        "only_a": test.only_a, "only_b": test.only_b, "n": len(common)})
    return out
