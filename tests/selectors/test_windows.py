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
