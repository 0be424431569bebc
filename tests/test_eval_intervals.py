"""Intervals and paired tests (issue 15 item 2): hand-computed values, a textbook McNemar table,
and coverage near 95% by simulation."""
from __future__ import annotations

import math

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from polyprompt.evaluate import intervals  # noqa: E402


def test_wilson_matches_the_hand_computed_interval():
    # 8 of 10: p = .8, z = 1.96: centre (.8 + z²/20) / (1 + z²/10), half-width z·sqrt(.016 + z²/400) / (1 + z²/10)
    z = intervals.Z95
    denom = 1 + z * z / 10
    centre, half = (0.8 + z * z / 20) / denom, z * math.sqrt(0.016 + z * z / 400) / denom
    low, high = intervals.wilson(8, 10)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)  # the published value for 8/10


def test_wilson_at_the_edges_stays_in_the_unit_interval():
    assert intervals.wilson(0, 20)[0] == 0.0 and intervals.wilson(20, 20)[1] == 1.0
    assert intervals.wilson(0, 20)[1] == pytest.approx(0.1611, abs=1e-4)  # 3.84 / (20 + 3.84)
    assert intervals.wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        intervals.wilson(5, 3)


def test_wilson_covers_95_percent_by_simulation():
    rng = np.random.default_rng(1)
    for p, n in ((0.8, 200), (0.7, 150), (0.5, 30)):
        ks = rng.binomial(n, p, size=2000)
        covered = sum(lo <= p <= hi for lo, hi in (intervals.wilson(int(k), n) for k in ks))
        assert 0.93 <= covered / 2000 <= 0.97, (p, n, covered)


def test_bootstrap_is_seeded_and_vectorized():
    x = np.random.default_rng(0).normal(size=300)
    stat = lambda idx: x[idx].mean(axis=1)  # noqa: E731
    a = intervals.bootstrap(stat, 300, 1000, seed=3)
    assert a == intervals.bootstrap(stat, 300, 1000, seed=3)
    assert a != intervals.bootstrap(stat, 300, 1000, seed=4)
    # the mean of 300 N(0, 1): about ±1.96/sqrt(300) around the sample mean
    assert a[1] - a[0] == pytest.approx(2 * 1.96 / math.sqrt(300), rel=0.15)
    assert a[0] < x.mean() < a[1]


def test_resamples_come_in_batches_that_bound_memory():
    batches = list(intervals.resamples(60_000, 200, seed=0))
    assert sum(b.shape[0] for b in batches) == 200 and len(batches) > 1
    assert all(b.shape[1] == 60_000 and b.max() < 60_000 for b in batches)


def _population(rng, n):
    """Labels of 3 classes and a classifier right 75% of the time, wrong uniformly otherwise."""
    true = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    wrong = (true + rng.integers(1, 3, size=n)) % 3
    return true, np.where(rng.random(n) < 0.75, true, wrong)


def test_class_rates_equal_scikit_learn_on_random_label_sets():
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(7)
    for trial in range(30):
        k = int(rng.integers(2, 6))
        n = int(rng.integers(5, 80))
        true, pred = rng.integers(0, k, n), rng.integers(0, k + 1, n)  # k = "no answer"
        rates = intervals.class_rates(intervals.confusion_samples(true, pred, k + 1, np.arange(n)[None, :]), k)
        present = sorted({*true.tolist(), *pred.tolist()} - {k})
        for average in ("macro", "weighted"):
            p, r, f, _ = precision_recall_fscore_support(true, pred, labels=present, average=average, zero_division=0)
            assert rates[f"{average}_precision"][0] == pytest.approx(p), trial
            assert rates[f"{average}_recall"][0] == pytest.approx(r), trial
            assert rates[f"{average}_f1"][0] == pytest.approx(f), trial
        p, r, f, s = precision_recall_fscore_support(true, pred, labels=list(range(k)), average=None, zero_division=0)
        assert rates["f1"][0] == pytest.approx(f) and rates["precision"][0] == pytest.approx(p)
        assert rates["recall"][0] == pytest.approx(r) and rates["support"][0] == pytest.approx(s)
        assert rates["accuracy"][0] == pytest.approx(accuracy_score(true, pred))


def test_macro_f1_bootstrap_covers_95_percent_by_simulation():
    """The population's macro F1 (from a sample of a million rows) lies in the percentile bootstrap
    interval of 93-97% of 2,000 samples of 200 rows."""
    rng = np.random.default_rng(11)
    big_t, big_p = _population(rng, 1_000_000)
    whole = intervals.class_rates(intervals.confusion_samples(big_t, big_p, 3, np.arange(1_000_000)[None, :]), 3)
    truth = whole["macro_f1"][0]
    covered = 0
    for i in range(2000):
        t, p = _population(rng, 200)
        stat = lambda idx: intervals.class_rates(intervals.confusion_samples(t, p, 3, idx), 3)["macro_f1"]  # noqa: E731
        low, high = intervals.bootstrap(stat, 200, count=400, seed=i)
        covered += low <= truth <= high
    assert 0.93 <= covered / 2000 <= 0.97, covered


def test_mcnemar_on_a_textbook_table():
    """Agresti, Categorical Data Analysis (3rd ed., table 11.1): approval of the prime minister in two
    surveys, 794 / 150 / 86 / 570. Discordant 150 and 86: with continuity correction (|150-86|-1)²/236."""
    a = np.array([1] * 794 + [1] * 150 + [0] * 86 + [0] * 570, dtype=bool)
    b = np.array([1] * 794 + [0] * 150 + [1] * 86 + [0] * 570, dtype=bool)
    result = intervals.mcnemar(a, b)
    assert (result.only_a, result.only_b, result.exact) == (150, 86, False)
    assert result.statistic == pytest.approx(63 ** 2 / 236) == pytest.approx(16.818, abs=1e-3)
    assert result.p_value == pytest.approx(4.11e-5, rel=0.01)


def test_mcnemar_is_exact_for_few_discordant_pairs():
    a = np.array([1, 1] + [0] * 8 + [1] * 20, dtype=bool)
    b = np.array([0, 0] + [1] * 8 + [1] * 20, dtype=bool)
    result = intervals.mcnemar(a, b)
    assert result.exact and (result.only_a, result.only_b) == (2, 8)
    assert result.p_value == pytest.approx(2 * (1 + 10 + 45) / 1024)  # 2·P(X <= 2), X ~ B(10, 1/2)
    assert intervals.mcnemar(a, a).p_value == 1.0
    with pytest.raises(ValueError, match="different rows"):
        intervals.mcnemar(a, b[:5])


def test_paired_bootstrap_tells_a_real_difference_from_noise():
    rng = np.random.default_rng(5)
    t, p = _population(rng, 300)
    better = np.where(rng.random(300) < 0.6, t, p)  # fixes 60% of the mistakes

    def f1(pred):
        return lambda idx: intervals.class_rates(intervals.confusion_samples(t, pred, 3, idx), 3)["macro_f1"]

    real = intervals.paired_bootstrap(f1(better), f1(p), 300, 2000, seed=0)
    assert real.difference > 0 and real.low > 0 and real.p_value < 0.01
    same = intervals.paired_bootstrap(f1(p), f1(p), 300, 500, seed=0)
    assert (same.difference, same.low, same.high, same.p_value) == (0, 0, 0, 1.0)
    noise = np.where(rng.random(300) < 0.02, t, p)
    small = intervals.paired_bootstrap(f1(noise), f1(p), 300, 2000, seed=0)
    assert small.low <= 0 <= small.high or small.p_value > 0.01
