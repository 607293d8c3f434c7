"""The DRIP threshold window: the run of w consecutive sorted scores with the smallest standard
deviation, found in O(n) with cumulative sums."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


class Window(NamedTuple):
    start: int  # index of the window's first score in the sorted order
    lower: float  # L_lower: smallest score in the window
    upper: float  # L_upper: largest score in the window
    std: float  # population standard deviation of the window's scores


def window_size(dpw: float, n: int) -> int:
    """w = round(DPW * n), rounding halves up (Python's round would send 2.5 to 2).

    >>> window_size(0.25, 10), window_size(0.25, 6)
    (3, 2)
    """
    return int(math.floor(dpw * n + 0.5))


def min_std_window(sorted_scores: torch.Tensor, w: int) -> Window:
    """The window of ``w`` consecutive scores (ascending) with the smallest standard deviation.

    Sums are taken in float64 after subtracting the mean, so the variance keeps its precision;
    ties go to the first (lowest) window.

    >>> win = min_std_window(torch.tensor([0.0, 1.0, 5.0, 5.1, 5.2, 9.0], dtype=torch.float64), 3)
    >>> win.start, win.lower, win.upper, round(win.std, 6)
    (2, 5.0, 5.2, 0.08165)
    """
    scores = sorted_scores.detach().flatten()
    n = scores.numel()
    if not 1 <= w <= n:
        raise ValueError(f"window size must be in [1, {n}], got {w}")
    if n > 1 and bool((scores[1:] < scores[:-1]).any()):
        raise ValueError("scores must be sorted ascending")
    var = _window_variances(scores.to(torch.float64)[None], w)[0]
    start = int(torch.argmin(var))  # argmin returns the first of equal minima
    return Window(
        start=start,
        lower=float(sorted_scores[start]),
        upper=float(sorted_scores[start + w - 1]),
        std=float(var[start].sqrt()),
    )


def split_half_agreement(sorted_scores: torch.Tensor, dpw: float, splits: int = 100, seed: int = 0) -> float | None:
    """How much the window's decisions depend on the calibration sample: split these points at
    random into two halves, fit a window (``dpw`` of each half) on each, and count the share of
    the points that the two windows decide alike (inside or outside); the mean over ``splits``
    random splits. 1.0: any half of the data gives the same decisions. The minimum-std window can
    jump between two dense stretches of similar spread, so a class can be far less stable than
    its size suggests. Halves, not bootstrap resamples: a resample's repeated values form
    zero-spread stretches that attract the window and would overstate the jumping. None when a
    half is too small for a window of 2.

    Deterministic (its own generator, seeded by ``seed``; no global random state is touched);
    vectorised over splits, in chunks that bound memory to about 2 million values.

    >>> tight = torch.cat([torch.zeros(50), torch.linspace(5, 6, 50)]).double()
    >>> split_half_agreement(tight, 0.25)   # a stretch of equal scores: every half finds it
    1.0
    """
    scores = sorted_scores.detach().flatten().to(torch.float64)
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise ValueError(f"splits must be a positive int, got {splits!r}")
    n = scores.numel()
    half = n // 2
    w = window_size(dpw, half)
    if w < 2:
        return None
    g = torch.Generator().manual_seed(seed)
    agree, chunk = 0.0, max(1, 2_000_000 // max(n, 1))
    for start in range(0, splits, chunk):
        b = min(chunk, splits - start)
        order = torch.rand(b, n, generator=g).argsort(dim=1)
        decided = []
        for part in (order[:, :half], order[:, half:2 * half]):
            lower, upper = _min_std_bounds(scores[part].sort(dim=1).values, w)
            decided.append((scores >= lower[:, None]) & (scores <= upper[:, None]))
        agree += float((decided[0] == decided[1]).double().mean(dim=1).sum())
    return agree / splits


def _window_variances(sorted_rows: torch.Tensor, w: int) -> torch.Tensor:
    """The population variance of every run of ``w`` consecutive values in each row of a (B, n)
    float64 tensor: (B, n - w + 1), from cumulative sums of the row minus its mean (so the
    variance keeps its precision)."""
    s = sorted_rows - sorted_rows.mean(dim=1, keepdim=True)
    zero = s.new_zeros(s.shape[0], 1)
    c1 = torch.cat([zero, s.cumsum(1)], dim=1)
    c2 = torch.cat([zero, (s * s).cumsum(1)], dim=1)
    sum1, sum2 = c1[:, w:] - c1[:, :-w], c2[:, w:] - c2[:, :-w]
    return (sum2 / w - (sum1 / w) ** 2).clamp_min(0)


def _min_std_bounds(sorted_rows: torch.Tensor, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``min_std_window``'s bounds for each row of a (B, n) float64 tensor sorted along rows."""
    start = _window_variances(sorted_rows, w).argmin(dim=1, keepdim=True)  # the first of equal minima
    return sorted_rows.gather(1, start).squeeze(1), sorted_rows.gather(1, start + w - 1).squeeze(1)
