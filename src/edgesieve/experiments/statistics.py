"""Paired comparisons against the reference method (random selection), as every table reports
them: the mean paired difference with its Student-t 95% interval, and a verdict that calls a
difference real only when the interval excludes 0 (SPEC section 5)."""

from __future__ import annotations

import math

from scipy import stats

LEVEL = 0.95


def t_interval(diffs: list[float], level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean of paired differences (n - 1 degrees of freedom);
    (nan, nan) with fewer than 2 values.

    >>> low, high = t_interval([1.0, 2.0, 3.0])   # mean 2, se 1/sqrt(3), t(0.975, 2) = 4.303
    >>> round(low, 3), round(high, 3)
    (-0.484, 4.484)
    """
    n = len(diffs)
    if n < 2:
        return math.nan, math.nan
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def _mean_sd(diffs: list[float]) -> tuple[int, float, float]:
    """n, mean and sample standard deviation (nan below 2 values)."""
    n = len(diffs)
    if n < 2:
        return n, math.nan, math.nan
    mean = sum(diffs) / n
    return n, mean, math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))


def minimum_detectable_effect(diffs: list[float], level: float = LEVEL, power: float = 0.8) -> float:
    """The smallest true mean difference a paired t-test on this many seeds, with this spread,
    detects with probability ``power`` at ``level``: (t_{1-a/2} + t_{power}) sd / sqrt(n), n - 1
    degrees of freedom (the usual approximation). A tie then rules out effects at least this big.

    >>> round(minimum_detectable_effect([1.0, 2.0, 3.0, 4.0, 5.0]), 3)   # sd 1.58, n 5: (2.776 + 0.941) x 0.707
    2.629
    """
    n, mean, sd = _mean_sd(diffs)
    if n < 2:
        return math.nan
    return (float(stats.t.ppf(0.5 + level / 2, n - 1)) + float(stats.t.ppf(power, n - 1))) * sd / math.sqrt(n)


def verdict(diffs: list[float], reference: str = "random", level: float = LEVEL) -> str:
    """Plain words for a paired difference (method minus ``reference``) over seeds.

    >>> verdict([1.0, 1.2, 0.9, 1.1]), verdict([1.0, -1.0, 0.5], "RS")
    ('beats random', 'does not beat RS (difference within noise)')
    """
    if len(diffs) < 2:
        return "one run only: no verdict"
    low, high = t_interval(diffs, level)
    if low > 0:
        return f"beats {reference}"
    if high < 0:
        return f"loses to {reference}"
    return f"does not beat {reference} (difference within noise)"


def format_difference(mean: float, interval) -> str:
    """'+0.11 [-0.34, +0.56]': the mean paired difference and its 95% interval, in points."""
    low, high = interval
    if low is None or math.isnan(low):
        return f"{mean:+.2f}"
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def paired_p_value(diffs: list[float]) -> float:
    """Two-sided p-value of the paired t-test (mean difference 0); nan with fewer than 2 values
    or no spread.

    >>> round(paired_p_value([1.0, 2.0, 3.0]), 4)
    0.0742
    """
    n, mean, sd = _mean_sd(diffs)
    if n < 2:
        return math.nan
    if sd == 0:
        return 0.0 if mean != 0 else 1.0
    return float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (as statsmodels' ``multipletests(method="holm")``):
    sorted ascending, p_(i) x (m - i + 1), made monotone, capped at 1. nan stays nan and does
    not count towards m.

    >>> [round(p, 3) for p in holm_adjust([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    valid = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(valid)
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(valid)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def adjusted_rand_index(a, b) -> float:
    """Adjusted Rand index of two labelings of the same items (Hubert and Arabie, 1985): 1 when
    they group the items identically, about 0 for unrelated ones. How well a label-free store's
    grouping (the predicted class) recovers the true classes of the stream.

    >>> adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0]), round(adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]), 6)
    (1.0, -0.5)
    """
    import numpy as np

    a, b = np.unique(np.asarray(a), return_inverse=True)[1], np.unique(np.asarray(b), return_inverse=True)[1]
    if a.shape != b.shape or a.size < 2:
        raise ValueError("two labelings of the same two or more items are needed")
    table = np.zeros((a.max() + 1, b.max() + 1), np.int64)
    np.add.at(table, (a, b), 1)
    pairs = lambda v: (v * (v - 1) // 2).sum()  # noqa: E731
    index, rows, cols, total = pairs(table), pairs(table.sum(1)), pairs(table.sum(0)), a.size * (a.size - 1) // 2
    expected = rows * cols / total
    top = (rows + cols) / 2
    return 1.0 if top == expected else float((index - expected) / (top - expected))


def smoothed(curve: list) -> list[tuple[int, float]]:
    """A curve's accuracies as a centred moving average over 3 evaluations (2 at the ends).

    >>> smoothed([(1, 0.2), (2, 0.5), (3, 0.8)])
    [(1, 0.35), (2, 0.5), (3, 0.65)]
    """
    acc = [a for _, a in curve]
    out = []
    for i, (r, _) in enumerate(curve):
        window = acc[max(0, i - 1): i + 2]
        out.append((r, sum(window) / len(window)))
    return out


def first_reach(curve: list, seconds_at_eval: list, target: float) -> tuple[int, float] | None:
    """(round, cumulative seconds) where the smoothed curve first reaches ``target``; None if it
    never does (time-to-accuracy that one lucky evaluation does not decide)."""
    for i, (r, a) in enumerate(smoothed(curve)):
        if a >= target:
            return int(r), float(seconds_at_eval[i])
    return None


def paired_time_ratio(times: list[float], reference_times: list[float], level: float = LEVEL,
                      censored: list[float] | None = None) -> dict:
    """Geometric mean of the per-seed ratios ``times / reference_times`` with the Student-t
    interval of the mean log ratio (a ratio of times is symmetric on the log scale: 0.5x and 2x
    are equally far from 1). Pairs in which either time is missing (None: the target was never
    reached) are left out and counted. Leaving out the seeds where only the method never reached
    the target flatters it; with ``censored`` (each seed's run length, where its time would have
    been) the result also has ``at_least``: the geometric mean over those seeds too, each counted
    at its run's end, a lower bound of the mean over every seed whose reference reached it
    (a censored seed took longer than its run).

    >>> r = paired_time_ratio([1.0, 2.0, 4.0, None], [2.0, 2.0, 2.0, 2.0], censored=[5.0, 5.0, 5.0, 8.0])
    >>> round(r["ratio"], 3), r["n"], r["missing"], round(r["at_least"], 3)
    (1.0, 3, 1, 1.414)
    """
    pairs = [(a, b) for a, b in zip(times, reference_times) if a is not None and b is not None]
    logs = [math.log(a / b) for a, b in pairs]
    bound = None
    if censored is not None:
        ends = [math.log((a if a is not None else end) / b)
                for a, b, end in zip(times, reference_times, censored) if b is not None]
        bound = math.exp(sum(ends) / len(ends)) if ends else None
    if not logs:
        return {"ratio": None, "ci_low": None, "ci_high": None, "n": 0, "missing": len(times), "at_least": bound}
    low, high = t_interval(logs, level)
    finite = lambda v: None if math.isnan(v) else math.exp(v)  # noqa: E731
    return {"ratio": math.exp(sum(logs) / len(logs)), "ci_low": finite(low), "ci_high": finite(high),
            "n": len(logs), "missing": len(times) - len(logs), "at_least": bound}
