"""95% intervals and paired tests: what makes a metric on a few hundred rows trustworthy.

* `wilson(k, n)`: the Wilson score interval of a proportion (accuracy, exact match, parse
  failures). Unlike the normal approximation it stays inside [0, 1] and keeps its coverage near
  95% for proportions close to 0 or 1 and for small n.
* `bootstrap(statistic, n)`: the percentile bootstrap of any statistic of the rows (F1,
  precision, chrF...): `statistic` maps a (B, n) array of resampled row indices to B values, so
  each metric is computed for all resamples at once with numpy. Seeded: the same rows and seed
  give the same interval.
* `confusion_samples`: the confusion matrices of all resamples in one `bincount`, from which
  `class_rates` derives per-class and averaged precision, recall and F1.
* `mcnemar(a, b)`: McNemar's test of two targets' correctness on the same rows: exact (binomial)
  when the discordant pairs are few, chi-square with continuity correction otherwise.
* `paired_bootstrap(stat_a, stat_b, n)`: the difference of a statistic between two targets on the
  same resampled rows, with its interval and a two-sided p-value.

numpy and scipy (a scikit-learn dependency, the `eval` extra) are imported inside the functions.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import attrs

#: z for a two-sided 95% interval
Z95 = 1.959963984540054
#: resamples of a bootstrap unless asked otherwise
RESAMPLES = 2000
#: McNemar's test is exact (binomial) below this many discordant pairs
EXACT_BELOW = 25
#: the most index cells (resamples x rows) one batch of a bootstrap holds
_BATCH_CELLS = 4_000_000

Statistic = Callable[[Any], Any]  # (B, n) int array of row indices -> (B,) float array


def _z(confidence: float) -> float:
    if confidence == 0.95:
        return Z95
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the proportion k/n; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"wilson: k={k} is not between 0 and n={n}")
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at k = 0 or k = n the bound is exactly 0 or 1 (rounding would leave 1e-17 off)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def resamples(n: int, count: int = RESAMPLES, seed: int = 0):
    """Batches of (b, n) row indices drawn with replacement, `count` rows of indices in all, from
    one seeded generator: the same (n, count, seed) always gives the same indices."""
    import numpy as np

    rng = np.random.default_rng(seed)
    batch = max(1, min(count, _BATCH_CELLS // max(n, 1)))
    done = 0
    while done < count:
        size = min(batch, count - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def bootstrap_samples(statistic: Statistic, n: int, count: int = RESAMPLES, seed: int = 0):
    """The statistic on `count` resamples of the n rows: a (count,) or (count, k) array."""
    import numpy as np

    if n <= 0:
        return np.zeros((0,))
    return np.concatenate([np.asarray(statistic(idx), dtype=float) for idx in resamples(n, count, seed)])


def percentile_interval(samples, confidence: float = 0.95) -> tuple[float, float]:
    """The central `confidence` share of bootstrap samples (NaNs, e.g. an undefined statistic, left out)."""
    import numpy as np

    values = np.asarray(samples, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap(statistic: Statistic, n: int, count: int = RESAMPLES, seed: int = 0,
              confidence: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of a statistic of n rows (see the module docstring)."""
    return percentile_interval(bootstrap_samples(statistic, n, count, seed), confidence)


def confusion_samples(y_true, y_pred, k: int, idx):
    """The (B, k, k) confusion matrices (true x predicted) of the resampled rows `idx` (B, n) of two
    integer label arrays with values in [0, k)."""
    import numpy as np

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    b = idx.shape[0]
    cells = (np.arange(b)[:, None] * (k * k) + y_true[idx] * k + y_pred[idx]).ravel()
    return np.bincount(cells, minlength=b * k * k).reshape(b, k, k)


def _ratio(num, den):
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    import numpy as np

    out = np.zeros(np.broadcast(num, den).shape, dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


def class_rates(conf, classes: int) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support of (B, k, k) confusion matrices, for the first
    `classes` labels (a later label, such as "no answer", is never a class of its own: a prediction
    of it is a miss for the true class, never a false positive), with macro and weighted averages
    over the labels that occur (in the truth or the predictions) in each matrix, and accuracy."""
    import numpy as np

    c = classes
    tp = np.diagonal(conf, axis1=1, axis2=2)[:, :c].astype(float)
    support = conf.sum(axis=2)[:, :c].astype(float)
    predicted = conf.sum(axis=1)[:, :c].astype(float)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    present = (support + predicted) > 0
    count = present.sum(axis=1)
    total = support.sum(axis=1)
    out = {"precision": precision, "recall": recall, "f1": f1, "support": support,
           "accuracy": _ratio(tp.sum(axis=1), conf.sum(axis=(1, 2)).astype(float))}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"macro_{name}"] = _ratio((values * present).sum(axis=1), count)
        out[f"weighted_{name}"] = _ratio((values * support).sum(axis=1), total)
    return out


@attrs.frozen
class McNemar:
    """McNemar's test of two targets on the same rows: `only_a` rows only A got right, `only_b`
    rows only B got right; `statistic` is the chi-square value (None for the exact test)."""
    only_a: int
    only_b: int
    p_value: float
    exact: bool
    statistic: float | None = None


def mcnemar(a_correct, b_correct, exact_below: int = EXACT_BELOW) -> McNemar:
    """McNemar's test on two boolean arrays (row i right for A, for B). With fewer than
    `exact_below` discordant pairs the p-value is the exact two-sided binomial one (B(n, 1/2));
    otherwise chi-square with one degree of freedom and Edwards' continuity correction."""
    import numpy as np

    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mcnemar: the targets answered different rows ({a.shape[0]} and {b.shape[0]})")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    if n == 0:
        return McNemar(0, 0, 1.0, True)
    if n < exact_below:
        from scipy.stats import binomtest

        return McNemar(only_a, only_b, float(binomtest(only_a, n, 0.5).pvalue), True)
    from scipy.stats import chi2

    statistic = (abs(only_a - only_b) - 1) ** 2 / n
    return McNemar(only_a, only_b, float(chi2.sf(statistic, 1)), False, float(statistic))


@attrs.frozen
class Difference:
    """A's statistic minus B's on the same rows, with its interval and two-sided p-value."""
    difference: float
    low: float
    high: float
    p_value: float


def paired_bootstrap(stat_a: Statistic, stat_b: Statistic, n: int, count: int = RESAMPLES, seed: int = 0,
                     confidence: float = 0.95) -> Difference:
    """The paired bootstrap of stat_a - stat_b: both on the same resampled rows. The p-value is
    twice the share of resampled differences on the far side of zero (at least 1/(count+1)),
    the usual bootstrap test of "no difference"."""
    import numpy as np

    whole = np.arange(n)[None, :]
    observed = float(np.asarray(stat_a(whole))[0] - np.asarray(stat_b(whole))[0])
    diffs = bootstrap_samples(lambda idx: np.asarray(stat_a(idx)) - np.asarray(stat_b(idx)), n, count, seed)
    low, high = percentile_interval(diffs, confidence)
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0 or (diffs == 0).all():
        return Difference(observed, low, high, 1.0)
    below, above = int((diffs <= 0).sum()), int((diffs >= 0).sum())
    p = min(1.0, 2 * (min(below, above) + 1) / (diffs.size + 1))
    return Difference(observed, low, high, p)
