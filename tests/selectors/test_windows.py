import math

import pytest
import torch

from edgesieve.selectors.windows import min_std_window, window_size


def brute_force(sorted_scores: list[float], w: int):
    best = None
    for start in range(len(sorted_scores) - w + 1):
        window = sorted_scores[start : start + w]
        mean = sum(window) / w
        std = math.sqrt(sum((v - mean) ** 2 for v in window) / w)
        if best is None or std < best[1] - 1e-12:
            best = (start, std)
    return best


@pytest.mark.parametrize("seed", range(25))
def test_matches_brute_force_loop(seed):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(2, 300, (1,), generator=gen))
    scores = torch.sort(torch.randn(n, generator=gen, dtype=torch.float64).exp()).values
    w = int(torch.randint(1, n + 1, (1,), generator=gen))
    got = min_std_window(scores, w)
    start, std = brute_force(scores.tolist(), w)
    assert got.start == start
    assert got.std == pytest.approx(std, rel=1e-9, abs=1e-12)
    assert got.lower == scores[start] and got.upper == scores[start + w - 1]


def test_hand_example_and_first_of_ties():
    # windows of 2: stds 0.5, 0.5, 1.5 -> first of the tied minima
    got = min_std_window(torch.tensor([1.0, 2.0, 3.0, 6.0]), 2)
    assert (got.start, got.lower, got.upper, got.std) == (0, 1.0, 2.0, 0.5)


def test_large_offset_keeps_precision():
    # scores around 1e6 with tiny spreads: naive float32 sums would lose the differences
    base = torch.tensor([0.0, 0.1, 0.2, 0.25, 0.26, 0.27, 0.9], dtype=torch.float64) + 1e6
    assert min_std_window(base, 3).start == 3


def test_rejects_unsorted_and_bad_window():
    with pytest.raises(ValueError, match="sorted ascending"):
        min_std_window(torch.tensor([2.0, 1.0]), 1)
    with pytest.raises(ValueError, match=r"window size must be in \[1, 2\]"):
        min_std_window(torch.tensor([1.0, 2.0]), 3)


def test_window_size_rounds_half_up():
    assert [window_size(0.25, n) for n in (1, 2, 6, 10, 100)] == [0, 1, 2, 3, 25]


def agreement_by_loop(scores: torch.Tensor, dpw: float, splits: int, seed: int) -> float:
    """split_half_agreement's definition, one split at a time through min_std_window."""
    g = torch.Generator().manual_seed(seed)
    n = scores.numel()
    half, total = n // 2, 0.0
    w = window_size(dpw, half)
    for _ in range(splits):
        order = torch.rand(1, n, generator=g).argsort(dim=1)[0]
        decided = []
        for part in (order[:half], order[half:2 * half]):
            win = min_std_window(torch.sort(scores[part]).values, w)
            decided.append((scores >= win.lower) & (scores <= win.upper))
        total += float((decided[0] == decided[1]).double().mean())
    return total / splits


@pytest.mark.parametrize("seed", range(8))
def test_split_half_agreement_matches_a_loop_over_splits(seed):
    from edgesieve.selectors.windows import split_half_agreement

    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(16, 200, (1,), generator=gen))
    scores = torch.sort(torch.randn(n, generator=gen, dtype=torch.float64).exp()).values
    assert split_half_agreement(scores, 0.25, splits=30, seed=seed) == pytest.approx(
        agreement_by_loop(scores, 0.25, 30, seed), abs=1e-12)


def test_split_half_agreement_tells_a_stable_class_from_a_jumping_one():
    from edgesieve.selectors.windows import split_half_agreement

    gen = torch.Generator().manual_seed(0)
    one_mode = torch.sort(torch.cat([torch.randn(150, generator=gen) * 0.05, torch.randn(150, generator=gen) * 3])).values
    # two equally tight clusters far apart: each half's window sits in one or the other by the luck of the split
    cluster = torch.randn(100, generator=gen) * 0.05
    two_modes = torch.sort(torch.cat([cluster, cluster + 10, torch.linspace(-20, 30, 100)])).values
    stable = split_half_agreement(one_mode.double(), 0.25)
    jumping = split_half_agreement(two_modes.double(), 0.25)
    assert stable > 0.8 and jumping < 0.65 and stable - jumping > 0.2
    assert split_half_agreement(one_mode.double(), 0.25, splits=7, seed=3) == split_half_agreement(one_mode.double(), 0.25, splits=7, seed=3)
    assert split_half_agreement(torch.arange(7.0), 0.25) is None  # halves of 3: a window of 1
    with pytest.raises(ValueError, match="splits must be a positive int"):
        split_half_agreement(one_mode.double(), 0.25, splits=0)
