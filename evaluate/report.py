"""The report of an evaluation: report.json, predictions.jsonl, plots and the terminal table.

`Report.build` scores each target's answers (metrics.py), compares every pair of targets on the
rows both answered (McNemar for the headline proportion, the paired bootstrap for the others),
and applies the gates (`--fail-under accuracy=0.8`). `Report.write(folder)` writes every file
atomically (a reader never sees half a report); `Report.to_json()` is report.json's content.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

from ..compiler import types as T
from ..compiler.files import write_atomic
from . import intervals, metrics
from .targets import EvalError, percentile

#: the pseudo-metric of a gate on the `expect` clauses: the share that passed (skipped ones left out)
EXPECTS = "expects"


@attrs.define
class Report:
    """An evaluation's results (see the module docstring); `passed` is false when a gate failed."""
    data: dict
    predictions: list[dict]
    scored: dict[str, metrics.Scored] = attrs.Factory(dict)

    @classmethod
    def build(cls, file: str, rows: Any, output: Any, runs: list, expects: list[dict], options: metrics.Options,
              fail_under: dict[str, float], rubric: Any = None, graded: list | None = None) -> "Report":
        """Score every run (and the judge's grades of each, `graded`: evaluate/judge.py), compare
        the pairs, check expects and gates."""
        from . import judge

        kind = metrics.output_kind(output)
        expected = {r.number: r.expected for r in rows.rows}
        entries, scored, predictions = [], {}, []
        for i, run in enumerate(runs):
            entry, scored[run.label] = _target_entry(run, output, expected, options)
            grades = graded[i].grades if graded else None
            if graded:
                judged, entry["judge"] = judge.scores(graded[i], options)
                entry["metrics"].update(judged)
            entries.append(entry)
            predictions += _predictions(run, expected, scored[run.label], grades)
        comparisons = _comparisons(runs, scored, kind, options) + (judge.comparisons(graded, options) if graded
                                                                   else [])
        data = {"prompt": rows.prompt, "file": str(file), "split": rows.split, "rows": len(rows.rows),
                "output_kind": kind, "dataset": rows.dataset, "skipped_rows": len(rows.skipped),
                "targets": entries, "comparisons": comparisons, "judge": rubric.describe() if rubric else None,
                "expects": expects, "gates": [],
                "partial": any(run.failure for run in runs) or any(g.failure for g in graded or ())}
        data["gates"] = _gates(data, fail_under)
        return cls(data, predictions, scored)

    @property
    def passed(self) -> bool:
        """Whether every gate passed."""
        return all(g["passed"] for g in self.data["gates"])

    @property
    def partial(self) -> bool:
        """Whether a target stopped before answering every row."""
        return bool(self.data["partial"])

    def to_json(self) -> dict:
        """report.json's content."""
        return self.data

    def write(self, folder: str | os.PathLike, plots: bool = True) -> list[Path]:
        """report.json, predictions.jsonl, (with matplotlib) the PNG plots and report.html (a
        self-contained page holding the plots), each written atomically; the paths written."""
        from .html import render_html

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "report.json", out / "predictions.jsonl"]
        write_atomic(written[0], json.dumps(self.data, indent=2, ensure_ascii=False) + "\n")
        write_atomic(written[1], "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in self.predictions))
        pngs: list[Path] = []
        if plots:
            from .plots import write_plots

            pngs = write_plots(self.data, out)
        page = render_html(self.data, self.predictions, {p.stem.replace("_", " "): p.read_bytes() for p in pngs})
        write_atomic(out / "report.html", page)
        return written + pngs + [out / "report.html"]

    def table(self, width: int = 100) -> str:
        """The metrics with their intervals, one column per target (plain text)."""
        from .table import render

        return render(self.data, width)


def _target_entry(run: Any, output: Any, expected: dict, options: metrics.Options) -> tuple[dict, metrics.Scored]:
    """One target's entry of report.json and its scores."""
    numbers = list(run.answers)
    answers = [run.answers[n] for n in numbers]
    scored = metrics.score(output, [expected[n] for n in numbers], [a.value for a in answers],
                           [a.answered for a in answers], options)
    latencies = [a.latency_ms for a in answers if a.latency_ms is not None]
    tokens = [a.tokens for a in answers if a.tokens is not None]
    entry: dict[str, Any] = {
        "target": run.target.target, "label": run.label, "kind": run.target.kind, "metrics": scored.metrics,
        "parse_failures": sum(a.error is None and a.parse_error is not None for a in answers),
        "errors": sum(a.error is not None for a in answers),
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)} if latencies else None,
        "tokens": {"input": sum(t[0] for t in tokens), "output": sum(t[1] for t in tokens)} if tokens else None,
        "answered_rows": len(answers), "seconds": round(run.seconds, 3),
        # recorded replies are read, not run: their speed says nothing about the target
        "rows_per_second": round(len(answers) / run.seconds, 2) if run.seconds > 0 and run.target.kind != "replies"
        else None,
        "failure": run.failure,
    }
    if scored.per_class is not None:
        entry["per_class"], entry["confusion"] = scored.per_class, scored.confusion
    if scored.fields is not None:
        entry["fields"] = scored.fields
    return entry, scored


def _predictions(run: Any, expected: dict, scored: metrics.Scored, grades: dict | None = None) -> list[dict]:
    """predictions.jsonl's lines of one target; with a judge, each row's grade (null: not graded)."""
    out = []
    for i, (n, a) in enumerate(run.answers.items()):
        line = {"row": n, "target": run.label, "expected": expected[n], "value": a.value if a.answered else None,
                "text": a.text, "correct": bool(scored.correct[i]), "error": a.error, "parse_error": a.parse_error,
                "latency_ms": None if a.latency_ms is None else round(a.latency_ms, 3)}
        if grades is not None:
            line["judge"] = grades[n].to_json() if n in grades else None
        out.append(line)
    return out


def _comparisons(runs: list, scored: dict, kind: str, options: metrics.Options) -> list[dict]:
    """Every pair of targets on the rows both answered: McNemar on the headline proportion, the
    paired bootstrap on the other headline metrics (F1, chrF)."""
    out = []
    names = metrics.headline(kind)
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            common = [n for n in a.answers if n in b.answers]
            if not common:
                continue
            pos_a, pos_b = _positions(a, common), _positions(b, common)
            sa, sb = scored[a.label], scored[b.label]
            for j, name in enumerate(names):
                if name not in sa.statistics or name not in sb.statistics:
                    continue
                diff = intervals.paired_bootstrap(_on(sa.statistics[name], pos_a), _on(sb.statistics[name], pos_b),
                                                  len(common), options.resamples, options.seed)
                entry = {"a": a.label, "b": b.label, "metric": name, "difference": diff.difference, "low": diff.low,
                         "high": diff.high, "p_value": diff.p_value, "test": "paired-bootstrap", "n": len(common)}
                if j == 0:
                    test = intervals.mcnemar(sa.correct[pos_a], sb.correct[pos_b])
                    entry.update(p_value=test.p_value, test="mcnemar", only_a=test.only_a, only_b=test.only_b)
                out.append(entry)
    return out


def _on(statistic: intervals.Statistic, positions: Any) -> intervals.Statistic:
    """A run's statistic of resampled common rows (indices into `positions`)."""
    return lambda idx: statistic(positions[idx])


def _positions(run: Any, common: list[int]):
    """Where each common row sits among a run's answers (the index its scores use)."""
    import numpy as np

    where = {n: i for i, n in enumerate(run.answers)}
    return np.array([where[n] for n in common], dtype=np.int64)


# --- gates ---------------------------------------------------------------------------------------------

def metric_names(output: Any, judged: bool = False) -> set[str]:
    """The metric names a gate may use for a prompt's output (FIELD.METRIC for a record's fields;
    the judge's, `judged`)."""
    from .judge import METRICS

    kind = metrics.output_kind(output)
    names = {"parse_failure_rate", EXPECTS} | (set(METRICS) if judged else set())
    if kind in ("enum", "bool"):
        names |= {"accuracy"} | {f"{a}_{m}" for a in ("macro", "weighted") for m in ("precision", "recall", "f1")}
    elif kind == "text":
        names |= {"exact_match", "normalized_match", "contains", "regex", "chrf"}
    else:
        names.add("exact_match")
    if kind == "record":
        shape = T.strip_optional(output.type)
        assert isinstance(shape, T.RecordT), "a record output has a record type"
        for name, field in shape.fields.items():
            names |= {f"{name}.{m}" for m in _field_metric_names(field.type)}
    return names


def _field_metric_names(t: Any) -> tuple[str, ...]:
    return {"enum": ("accuracy", "macro_f1"), "bool": ("accuracy", "macro_f1"), "number": ("within_tolerance", "mae"),
            "text": ("exact", "normalized"), "list": ("precision", "recall", "f1")}.get(metrics.type_kind(t), ("exact",))


def check_gates(fail_under: dict[str, float], output: Any, judged: bool = False) -> None:
    """EvalError for a gate on a metric this output does not have (before anything runs)."""
    known = metric_names(output, judged)
    for name, threshold in fail_under.items():
        if name not in known:
            raise EvalError(f"--fail-under {name}: no such metric for this prompt's output; "
                            f"use one of {', '.join(sorted(known))}")
        if not isinstance(threshold, (int, float)):
            raise EvalError(f"--fail-under {name}: the threshold must be a number")


def _gates(data: dict, fail_under: dict[str, float]) -> list[dict]:
    out = []
    for name, threshold in fail_under.items():
        for entry in data["targets"]:
            value = _metric_value(data, entry, name)
            passed = value is not None and value >= threshold
            out.append({"metric": name, "target": entry["label"], "threshold": float(threshold),
                        "value": 0.0 if value is None else value, "passed": passed})
    return out


def _metric_value(data: dict, entry: dict, name: str) -> float | None:
    if name == EXPECTS:
        checked = [e for e in data["expects"] if e["target"] == entry["label"] and not e.get("skipped")]
        return sum(e["passed"] for e in checked) / len(checked) if checked else None
    if name in entry["metrics"]:
        return entry["metrics"][name]["value"] if entry["metrics"][name]["n"] else None
    field, _, metric = name.partition(".")
    found = entry.get("fields", {}).get(field, {}).get(metric)
    return found["value"] if found and found["n"] else None


def parse_gate(text: str) -> tuple[str, float]:
    """`METRIC=THRESHOLD` (accuracy=0.8, macro_f1=0.7, category.accuracy=0.9)."""
    name, sep, value = text.partition("=")
    try:
        threshold = float(value)
    except ValueError:
        threshold = float("nan")
    if not sep or not name.strip() or threshold != threshold:
        raise EvalError(f"--fail-under `{text}`: write METRIC=THRESHOLD, e.g. accuracy=0.8")
    return name.strip(), threshold
