"""Typed scoring: each target's parsed replies against the expected outputs, by output kind.

* enum, literal union and bool outputs (`kind` "enum" / "bool"): accuracy, per-class precision,
  recall and F1, their macro and weighted averages (scikit-learn's metrics), the confusion matrix;
* records: exact match of the whole value, and per-field scores: enum/bool fields as above,
  numbers within a tolerance (and their mean absolute error), strings exact and normalized, lists
  by set precision/recall/F1, anything else by equality;
* free text: exact and normalized match, contains (the expected text inside the reply), a regex
  the reply must match, chrF (sacrebleu);
* any other type (a list, a number...): exact match.

A row whose reply did not parse, or that the target failed to answer, is wrong for every metric
(its label is `NO_ANSWER`, never a class of its own) and is counted apart (`parse_failure_rate`).
Every metric comes with a 95% interval (intervals.py): Wilson for proportions, the percentile
bootstrap for the rest. `Scored.statistics` keeps, per metric, the function of resampled rows that
the paired tests between targets use.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any, Callable, Sequence

import attrs

from ..compiler import types as T
from . import intervals

#: the label of a row without a parsed answer in per-class scores and the confusion matrix
NO_ANSWER = "(no answer)"


@attrs.frozen
class Options:
    """How values are compared: the relative and absolute tolerance of numbers, a regex a text
    reply must match (None: no regex metric), and the bootstrap's resamples and seed."""
    rel_tolerance: float = 0.0
    abs_tolerance: float = 1e-9
    regex: str | None = None
    resamples: int = intervals.RESAMPLES
    seed: int = 0


@attrs.define
class Scored:
    """A target's scores: `metrics` (name -> {value, low, high, n}), `per_class` and `confusion`
    for a choice output, `fields` for a record; `correct` the row-level correctness (the headline
    match: accuracy, exact match); `statistics` the metric functions of resampled rows (for the paired
    bootstrap between targets)."""
    metrics: dict[str, dict]
    correct: Any
    per_class: dict[str, dict] | None = None
    confusion: dict | None = None
    fields: dict[str, dict] | None = None
    statistics: dict[str, intervals.Statistic] = attrs.Factory(dict)


# --- kinds and labels ------------------------------------------------------------------------------

def output_kind(output: Any) -> str:
    """The scoring kind of a prompt's IR output: "text", "enum", "bool", "record" or "value"."""
    if output is None or output.is_text:
        return "text"
    return type_kind(output.type)


def type_kind(t: Any) -> str:
    """The scoring kind of a type: "enum" (an enum or a union of literals, maybe optional), "bool",
    "record", "text" (str), "number", "list" or "value"."""
    t = T.strip_optional(t)
    if isinstance(t, (T.EnumT, T.LiteralT)):
        return "enum"
    if t == T.BOOL:
        return "bool"
    if isinstance(t, T.RecordT):
        return "record"
    if t == T.STR:
        return "text"
    if t in (T.INT, T.FLOAT):
        return "number"
    if isinstance(t, T.ListT):
        return "list"
    return "value"


def classes_of(t: Any) -> list[str]:
    """The labels of a choice type, in declaration order (`null` last when it is optional)."""
    optional = isinstance(t, T.OptionalT)
    t = T.strip_optional(t)
    if isinstance(t, T.EnumT):
        values: list[Any] = list(t.members)
    elif isinstance(t, T.LiteralT):
        values = list(t.values)
    elif t == T.BOOL:
        values = [True, False]
    else:
        raise ValueError(f"{t} is not a choice type")
    return [label_of(v) for v in values] + (["null"] if optional else [])


def label_of(value: Any) -> str:
    """A value as a class label: a string as is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def normalize(text: str) -> str:
    """Text for a normalized comparison: NFKC, case-folded, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


# --- estimates ----------------------------------------------------------------------------------------

def estimate(value: float, low: float, high: float, n: int) -> dict:
    """One metric as report.json holds it."""
    return {"value": _clean(value), "low": _clean(low), "high": _clean(high), "n": int(n)}


def _clean(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def proportion(flags: Sequence[bool]) -> dict:
    """The share of true flags with its Wilson interval."""
    k, n = int(sum(bool(f) for f in flags)), len(flags)
    low, high = intervals.wilson(k, n)
    return estimate(k / n if n else 0.0, low, high, n)


def _mean_statistic(values) -> intervals.Statistic:
    import numpy as np

    v = np.asarray(values, dtype=float)
    return lambda idx: v[idx].mean(axis=1)


def _ratio_statistic(num, den) -> intervals.Statistic:
    """sum(num)/sum(den) over the resampled rows (a micro average), 0 where the sum of den is 0."""
    import numpy as np

    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return lambda idx: intervals._ratio(a[idx].sum(axis=1), b[idx].sum(axis=1))


def bootstrapped(statistic: intervals.Statistic, n: int, options: Options) -> dict:
    """A statistic of the rows with its percentile bootstrap interval."""
    import numpy as np

    if n == 0:
        return estimate(0.0, 0.0, 0.0, 0)
    value = float(np.asarray(statistic(np.arange(n)[None, :]))[0])
    low, high = intervals.bootstrap(statistic, n, options.resamples, options.seed)
    return estimate(value, min(low, value), max(high, value), n)


# --- choices ------------------------------------------------------------------------------------------

def score_choice(expected: Sequence[Any], predicted: Sequence[Any], answered: Sequence[bool], classes: list[str],
                 options: Options) -> Scored:
    """Accuracy, per-class and averaged precision/recall/F1 (scikit-learn), the confusion matrix and
    their intervals, for a choice output; `answered[i]` is false for a row without a parsed reply."""
    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    true = [label_of(v) for v in expected]
    pred = [label_of(v) if ok else NO_ANSWER for v, ok in zip(predicted, answered)]
    order = classes + sorted({*true, *pred} - {*classes, NO_ANSWER})  # a label outside the type, last
    present = [c for c in order if c in true or c in pred]
    labels = present + ([NO_ANSWER] if NO_ANSWER in pred else [])
    n = len(true)
    metrics = {"accuracy": proportion([t == p for t, p in zip(true, pred)])}
    if n:
        metrics["accuracy"]["value"] = float(accuracy_score(true, pred))
    code = {c: i for i, c in enumerate(labels)}
    yt, yp = np.array([code[t] for t in true], dtype=np.int64), np.array([code[p] for p in pred], dtype=np.int64)
    k, c = len(labels), len(present)
    point = {}
    if n:
        for average in ("macro", "weighted"):
            p, r, f, _ = precision_recall_fscore_support(true, pred, labels=present, average=average, zero_division=0)
            point.update({f"{average}_precision": p, f"{average}_recall": r, f"{average}_f1": f})
        per = precision_recall_fscore_support(true, pred, labels=present, average=None, zero_division=0)
    samples = _class_samples(yt, yp, k, c, options)
    for name, value in point.items():
        metrics[name] = _with_interval(float(value), samples[name], n)
    per_class: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(present):
        per_class[label] = {name: _with_interval(float(per[j][i]), samples[name][:, i], n)
                            for j, name in enumerate(("precision", "recall", "f1"))}
        per_class[label]["support"] = int(per[3][i])
    matrix = confusion_matrix(true, pred, labels=labels).tolist() if n else []
    statistics = {"accuracy": _mean_statistic(yt == yp),
                  "macro_f1": lambda idx: intervals.class_rates(intervals.confusion_samples(yt, yp, k, idx), c)["macro_f1"]}
    return Scored(metrics, yt == yp, per_class, {"labels": labels, "matrix": matrix}, statistics=statistics)


def _class_samples(yt, yp, k: int, c: int, options: Options) -> dict:
    """Every class rate on the bootstrap resamples of the rows, from one confusion tensor per batch."""
    import numpy as np

    n = len(yt)
    if n == 0:
        return {}
    parts = [intervals.class_rates(intervals.confusion_samples(yt, yp, k, idx), c)
             for idx in intervals.resamples(n, options.resamples, options.seed)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _with_interval(value: float, samples, n: int) -> dict:
    low, high = intervals.percentile_interval(samples)
    return estimate(value, min(low, value), max(high, value), n)


# --- fields of records --------------------------------------------------------------------------------

_MISSING = object()     # the field is absent from the value
_UNANSWERED = object()  # the row has no parsed reply


def score_record(expected: Sequence[Any], predicted: Sequence[Any], answered: Sequence[bool], record: Any,
                 options: Options) -> Scored:
    """Exact match of whole records and the scores of each field (see the module docstring)."""
    import numpy as np

    exact = np.array([ok and e == p for e, p, ok in zip(expected, predicted, answered)], dtype=bool)
    metrics = {"exact_match": proportion(exact)}
    fields = {}
    shape = T.strip_optional(record)
    assert isinstance(shape, T.RecordT), "score_record scores records"
    for name, field in shape.fields.items():
        want = [e.get(name, _MISSING) if isinstance(e, dict) else _MISSING for e in expected]
        got = [(p.get(name, _MISSING) if isinstance(p, dict) else _MISSING) if ok else _UNANSWERED
               for p, ok in zip(predicted, answered)]
        fields[name] = score_field(want, got, field.type, options)
    return Scored(metrics, exact, fields=fields, statistics={"exact_match": _mean_statistic(exact)})


def score_field(want: list, got: list, t: Any, options: Options) -> dict[str, dict]:
    """One field's metrics over the rows (`_MISSING` where a value is absent, `_UNANSWERED` where the
    row has no parsed reply: wrong whatever was expected)."""
    kind = type_kind(t)
    if kind in ("enum", "bool"):  # an absent value is the class `null`
        expected = [None if w is _MISSING else w for w in want]
        predicted = [None if g is _MISSING or g is _UNANSWERED else g for g in got]
        scored = score_choice(expected, predicted, [g is not _UNANSWERED for g in got], classes_of(t), options)
        return {"accuracy": scored.metrics["accuracy"], "macro_f1": scored.metrics["macro_f1"]}
    if kind == "number":
        return _numbers(want, got, options)
    if kind == "text":
        return {"exact": proportion([w == g for w, g in zip(want, got)]),
                "normalized": proportion([w == g or (isinstance(w, str) and isinstance(g, str)
                                                     and normalize(w) == normalize(g)) for w, g in zip(want, got)])}
    if kind == "list":
        return _sets(want, got, options)
    return {"exact": proportion([w == g for w, g in zip(want, got)])}


def _numbers(want: list, got: list, options: Options) -> dict[str, dict]:
    """Within tolerance (absent on both sides counts as equal) and the mean absolute error of the rows
    where both are numbers."""
    def close(w, g) -> bool:
        if not (_is_number(w) and _is_number(g)):
            return g is not _UNANSWERED and w == g  # both absent, both null
        return math.isclose(float(w), float(g), rel_tol=options.rel_tolerance, abs_tol=options.abs_tolerance)

    errors = [abs(float(w) - float(g)) for w, g in zip(want, got) if _is_number(w) and _is_number(g)]
    return {"within_tolerance": proportion([close(w, g) for w, g in zip(want, got)]),
            "mae": bootstrapped(_mean_statistic(errors), len(errors), options)}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _sets(want: list, got: list, options: Options) -> dict[str, dict]:
    """Set precision, recall and F1 of list items, micro-averaged over the rows (items compared as JSON)."""
    def items(v) -> set[str]:
        return {label_of(x) for x in v} if isinstance(v, list) else set()

    hit, n_got, n_want = [], [], []
    for w, g in zip(want, got):
        a, b = items(w), items(g)
        hit.append(len(a & b))
        n_got.append(len(b))
        n_want.append(len(a))
    n = len(want)
    precision = _ratio_statistic(hit, n_got)
    recall = _ratio_statistic(hit, n_want)
    f1 = _ratio_statistic([2 * h for h in hit], [x + y for x, y in zip(n_got, n_want)])
    return {"precision": bootstrapped(precision, n, options), "recall": bootstrapped(recall, n, options),
            "f1": bootstrapped(f1, n, options)}


# --- text ------------------------------------------------------------------------------------------------

def score_text(expected: Sequence[str], predicted: Sequence[Any], answered: Sequence[bool], options: Options) -> Scored:
    """Exact, normalized and contains matches, the regex match (when one is given) and chrF."""
    import numpy as np

    replies = [p if ok and isinstance(p, str) else "" for p, ok in zip(predicted, answered)]
    ok = list(answered)
    exact = np.array([a and e == r for e, r, a in zip(expected, replies, ok)], dtype=bool)
    metrics = {"exact_match": proportion(exact),
               "normalized_match": proportion([a and normalize(e) == normalize(r)
                                               for e, r, a in zip(expected, replies, ok)]),
               "contains": proportion([a and normalize(e) in normalize(r) for e, r, a in zip(expected, replies, ok)])}
    if options.regex is not None:
        pattern = re.compile(options.regex)
        metrics["regex"] = proportion([a and pattern.search(r) is not None for r, a in zip(replies, ok)])
    statistics = {"exact_match": _mean_statistic(exact)}
    if expected:
        chrf = chrf_statistic(list(expected), replies)
        metrics["chrf"] = bootstrapped(chrf, len(expected), options)
        statistics["chrf"] = chrf
    return Scored(metrics, exact, statistics=statistics)


def chrf_statistic(references: list[str], hypotheses: list[str]) -> intervals.Statistic:
    """sacrebleu's corpus chrF (divided by 100) of the resampled rows: each row's character n-gram
    statistics are computed once and summed per resample, as sacrebleu's own paired bootstrap does."""
    import numpy as np
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    stats = np.asarray(chrf._extract_corpus_statistics(hypotheses, [references]), dtype=float)

    def statistic(idx):
        summed = stats[idx].sum(axis=1)
        return np.array([chrf._compute_score_from_stats(list(row)).score / 100 for row in summed])

    return statistic


# --- dispatch ----------------------------------------------------------------------------------------------

def score(output: Any, expected: Sequence[Any], predicted: Sequence[Any], answered: Sequence[bool],
          options: Options | None = None) -> Scored:
    """The scores of one target's replies for a prompt's IR `output`, with the parse-failure rate;
    `answered[i]` is false where row i has no parsed reply (its `predicted` value is ignored)."""
    options = options or Options()
    kind = output_kind(output)
    if kind in ("enum", "bool"):
        scored = score_choice(expected, predicted, answered, classes_of(output.type), options)
    elif kind == "record":
        scored = score_record(expected, predicted, answered, output.type, options)
    elif kind == "text":
        scored = score_text(expected, predicted, answered, options)
    else:
        import numpy as np

        exact = np.array([a and e == p for e, p, a in zip(expected, predicted, answered)], dtype=bool)
        scored = Scored({"exact_match": proportion(exact)}, exact, statistics={"exact_match": _mean_statistic(exact)})
    scored.metrics["parse_failure_rate"] = proportion([not a for a in answered])
    return scored


#: the headline metric of each kind: the first column of the terminal table, what a comparison tests
HEADLINE: dict[str, tuple[str, ...]] = {"enum": ("accuracy", "macro_f1"), "bool": ("accuracy", "macro_f1"),
                                        "record": ("exact_match",), "text": ("exact_match", "chrf"),
                                        "value": ("exact_match",)}


def headline(kind: str) -> tuple[str, ...]:
    """The metrics compared between targets for an output kind (the first is a proportion: McNemar)."""
    return HEADLINE.get(kind, ("exact_match",))


MetricFunction = Callable[..., Scored]
