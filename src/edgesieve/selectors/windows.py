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
    s = scores.to(torch.float64)
    s = s - s.mean()
    zero = s.new_zeros(1)
    c1 = torch.cat([zero, s.cumsum(0)])
    c2 = torch.cat([zero, (s * s).cumsum(0)])
    sum1 = c1[w:] - c1[:-w]
    sum2 = c2[w:] - c2[:-w]
    var = (sum2 / w - (sum1 / w) ** 2).clamp_min(0)
    start = int(torch.argmin(var))  # argmin returns the first of equal minima
    return Window(
        start=start,
        lower=float(sorted_scores[start]),
        upper=float(sorted_scores[start + w - 1]),
        std=float(var[start].sqrt()),
    )
