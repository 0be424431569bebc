"""Typed scoring (issue 15 item 1): hand-computed values, scikit-learn on random label sets,
records field by field, free text, parse failures counted apart."""
from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")

from polyprompt.compiler import types as T  # noqa: E402
from polyprompt.evaluate import metrics  # noqa: E402
from polyprompt.evaluate.metrics import NO_ANSWER, Options  # noqa: E402

OPTIONS = Options(resamples=500)
DECISION = T.EnumT("Decision", {"publish": None, "reject": None, "needs_review": None})


def test_a_choice_by_hand():
    """10 rows; hand-computed confusion: publish 4/5 right, reject 2/3, needs_review 1/2 (one reply unparsed)."""
    expected = ["publish"] * 5 + ["reject"] * 3 + ["needs_review"] * 2
    predicted = ["publish"] * 4 + ["reject"] + ["reject", "reject", "publish"] + ["needs_review", None]
    answered = [True] * 9 + [False]
    s = metrics.score_choice(expected, predicted, answered, ["publish", "reject", "needs_review"], OPTIONS)
    assert s.metrics["accuracy"]["value"] == pytest.approx(0.7)
    assert s.metrics["accuracy"]["n"] == 10
    # publish: tp 4, predicted 5, support 5; reject: tp 2, predicted 3, support 3; needs_review: tp 1, predicted 1, support 2
    assert s.per_class["publish"]["precision"]["value"] == pytest.approx(0.8)
    assert s.per_class["reject"]["recall"]["value"] == pytest.approx(2 / 3)
    assert s.per_class["needs_review"]["precision"]["value"] == pytest.approx(1.0)
    assert s.per_class["needs_review"]["recall"]["value"] == pytest.approx(0.5)
    assert s.per_class["needs_review"]["f1"]["value"] == pytest.approx(2 / 3)
    assert s.per_class["publish"]["support"] == 5
    macro_f1 = (0.8 + 2 / 3 + 2 / 3) / 3
    assert s.metrics["macro_f1"]["value"] == pytest.approx(macro_f1)
    assert s.metrics["weighted_f1"]["value"] == pytest.approx((5 * 0.8 + 3 * 2 / 3 + 2 * 2 / 3) / 10)
    assert s.confusion == {"labels": ["publish", "reject", "needs_review", NO_ANSWER],
                           "matrix": [[4, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]]}
    for m in s.metrics.values():
        assert m["low"] <= m["value"] <= m["high"]
    assert list(s.correct) == [True] * 4 + [False, True, True, False, True, False]


def test_choices_equal_scikit_learn_on_random_label_sets():
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(3)
    classes = ["a", "b", "c", "d"]
    for _trial in range(25):
        n = int(rng.integers(3, 60))
        expected = list(rng.choice(classes, n))
        predicted = list(rng.choice(classes, n))
        answered = list(rng.random(n) > 0.1)
        s = metrics.score_choice(expected, predicted, answered, classes, OPTIONS)
        pred = [p if a else NO_ANSWER for p, a in zip(predicted, answered)]
        present = [c for c in classes if c in expected or c in pred]
        assert s.metrics["accuracy"]["value"] == pytest.approx(accuracy_score(expected, pred))
        p, r, f, _ = precision_recall_fscore_support(expected, pred, labels=present, average="macro", zero_division=0)
        assert (s.metrics["macro_precision"]["value"], s.metrics["macro_recall"]["value"],
                s.metrics["macro_f1"]["value"]) == pytest.approx((p, r, f))
        # the bootstrap statistic on the rows themselves is the same number
        whole = np.arange(n)[None, :]
        assert s.statistics["macro_f1"](whole)[0] == pytest.approx(f)
        assert s.statistics["accuracy"](whole)[0] == pytest.approx(accuracy_score(expected, pred))


def test_bool_outputs_are_choices():
    out = _output(T.BOOL)
    s = metrics.score(out, [True, False, True, True], [True, True, None, True], [True, True, False, True], OPTIONS)
    assert s.metrics["accuracy"]["value"] == 0.5
    assert s.metrics["parse_failure_rate"]["value"] == 0.25
    assert s.confusion["labels"] == ["true", "false", NO_ANSWER]


def _output(t):
    from polyprompt.compiler import ir

    return ir.Output(name="p", type=t, schema={})


TRIAGE = T.RecordT("Triage")
TRIAGE.fields = {"category": T.FieldT("category", DECISION, True), "urgent": T.FieldT("urgent", T.BOOL, True),
                 "amount": T.FieldT("amount", T.FLOAT, False), "summary": T.FieldT("summary", T.STR, True),
                 "tags": T.FieldT("tags", T.ListT(T.STR), True)}


def test_records_field_by_field():
    expected = [{"category": "publish", "urgent": False, "amount": 10.0, "summary": "Broken lid.", "tags": ["a", "b"]},
                {"category": "reject", "urgent": True, "summary": "spam", "tags": ["x"]},
                {"category": "reject", "urgent": False, "amount": 5.0, "summary": "ok", "tags": []}]
    predicted = [{"category": "publish", "urgent": False, "amount": 10.05, "summary": "broken  lid", "tags": ["b", "c"]},
                 {"category": "reject", "urgent": True, "summary": "spam", "tags": ["x"]},
                 None]
    s = metrics.score(_output(TRIAGE), expected, predicted, [True, True, False], Options(rel_tolerance=0.01,
                                                                                          resamples=300))
    assert s.metrics["exact_match"]["value"] == pytest.approx(1 / 3)
    assert s.metrics["parse_failure_rate"]["value"] == pytest.approx(1 / 3)
    f = s.fields
    assert f["category"]["accuracy"]["value"] == pytest.approx(2 / 3)
    assert f["urgent"]["accuracy"]["value"] == pytest.approx(2 / 3)
    # 10.05 within 1% of 10; absent on both sides in row 2 is equal; row 3 unanswered
    assert f["amount"]["within_tolerance"]["value"] == pytest.approx(2 / 3)
    assert f["amount"]["mae"]["value"] == pytest.approx(0.05) and f["amount"]["mae"]["n"] == 1
    assert f["summary"]["exact"]["value"] == pytest.approx(1 / 3)
    assert f["summary"]["normalized"]["value"] == pytest.approx(2 / 3)
    # items: row 1 {a,b} vs {b,c}: 1 hit; row 2 {x} vs {x}; row 3 {} vs nothing: 2 hits of 3 predicted, 3 expected
    assert f["tags"]["precision"]["value"] == pytest.approx(2 / 3)
    assert f["tags"]["recall"]["value"] == pytest.approx(2 / 3)
    assert f["tags"]["f1"]["value"] == pytest.approx(2 / 3)
    without = metrics.score(_output(TRIAGE), expected, predicted, [True, True, False], OPTIONS)
    assert without.fields["amount"]["within_tolerance"]["value"] == pytest.approx(1 / 3)  # exact numbers only


def test_free_text():
    expected = ["The cat sat.", "Hello world", "Ship it", "42"]
    replies = ["The cat sat.", "hello, WORLD!", "I would ship it now", None]
    s = metrics.score(None, expected, replies, [True, True, True, False], Options(regex=r"^[A-Z]", resamples=300))
    m = s.metrics
    assert m["exact_match"]["value"] == 0.25
    assert m["normalized_match"]["value"] == 0.5
    assert m["contains"]["value"] == 0.75
    assert m["regex"]["value"] == 0.5  # "The cat sat." and "I would ship it now"
    assert m["parse_failure_rate"]["value"] == 0.25
    from sacrebleu.metrics import CHRF

    want = CHRF().corpus_score(["The cat sat.", "hello, WORLD!", "I would ship it now", ""], [expected]).score / 100
    assert m["chrf"]["value"] == pytest.approx(want)
    assert m["chrf"]["low"] <= m["chrf"]["value"] <= m["chrf"]["high"]


def test_other_types_score_exact_match():
    out = _output(T.ListT(T.INT))
    s = metrics.score(out, [[1, 2], [3]], [[1, 2], [4]], [True, True], OPTIONS)
    assert s.metrics["exact_match"]["value"] == 0.5


def test_normalize():
    assert metrics.normalize("  Ｈello,\tWORLD!! ") == "hello world"
    assert metrics.label_of(True) == "true" and metrics.label_of("x") == "x" and metrics.label_of(None) == "null"


def test_an_empty_target_scores_nothing_without_crashing():
    s = metrics.score(_output(DECISION), [], [], [], OPTIONS)
    assert s.metrics["accuracy"]["n"] == 0 and s.confusion["matrix"] == []
