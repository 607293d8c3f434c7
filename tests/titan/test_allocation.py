"""C-IS's inter-class allocation against an independent, exact implementation of SPEC section
2's rule (rational arithmetic, water level found by walking the breakpoints in order), and
class importance that is exactly 0 where the rule says so."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from edgesieve.titan import allocate_batch, cis_select, class_importance


def exact_water_fill(weights, caps, total):
    """q_y = min(caps_y, lam * w_y) over w_y > 0 with sum q = total, in Fractions: raise lam
    through the breakpoints caps_y / w_y in increasing order."""
    q = [Fraction(0)] * len(weights)
    live = sorted((Fraction(c) / w, y) for y, (w, c) in enumerate(zip(weights, caps)) if w > 0)
    left = Fraction(total)
    while live and left > 0:
        level = left / sum(weights[y] for _, y in live)  # lam if nobody else is capped
        ratio, y = live[0]
        if level < ratio:
            for _, z in live:
                q[z] = level * weights[z]
            return q
        q[y] = Fraction(caps[y])  # the class with the smallest cap-to-weight ratio fills first
        left -= caps[y]
        live.pop(0)
    return q


def reference_allocation(importance, available, batch):
    importance = [Fraction(float(v)) if a > 0 else Fraction(0) for v, a in zip(importance, available)]
    total = min(batch, sum(available))
    q = exact_water_fill(importance, available, total)
    rest = total - sum(q)
    if rest > 0:
        zero = [Fraction(int(w == 0 and a > 0)) for w, a in zip(importance, available)]
        q = [a + b for a, b in zip(q, exact_water_fill(zero, available, rest))]
    floors = [int(v) for v in q]  # q >= 0: int() is floor
    missing = total - sum(floors)
    order = sorted(range(len(q)), key=lambda y: (-(q[y] - floors[y]), y))
    for y in order[:missing]:
        floors[y] += 1
    return floors


def random_case(rng):
    c = int(rng.integers(1, 11))
    available = rng.integers(0, 8, c)
    kind = rng.integers(5)
    if kind == 0:  # ties: a few distinct values
        importance = rng.choice([0.0, 1.0, 2.0, 0.5], c)
    elif kind == 1:  # all zero
        importance = np.zeros(c)
    elif kind == 2:  # small integers (rational ties in the fractional parts)
        importance = rng.integers(0, 4, c).astype(float)
    else:
        importance = rng.random(c) * (rng.random(c) > 0.3) * 10 ** rng.uniform(-3, 3)
    return importance, available, int(rng.integers(1, 25))


def test_allocation_equals_the_exact_rule_on_thousands_of_random_cases():
    rng = np.random.default_rng(0)
    for _ in range(4000):
        importance, available, batch = random_case(rng)
        got = allocate_batch(torch.from_numpy(importance), torch.from_numpy(available), batch).tolist()
        assert got == reference_allocation(importance, available.tolist(), batch), (importance, available, batch)


@pytest.mark.parametrize(
    "importance, available, batch, expected",
    [
        # a class due a rounding slot is already full: the slot goes to the next fraction, not lost
        ([1.0, 1.0, 1.0], [1, 5, 5], 4, [1, 2, 1]),
        # zero-importance classes get only what the positive ones cannot hold, equally
        ([5.0, 0.0, 0.0, 0.0], [2, 3, 3, 0], 6, [2, 2, 2, 0]),
        # all zero: equal weights, ties to the lower class index
        ([0.0, 0.0, 0.0], [4, 4, 4], 4, [2, 1, 1]),
        # an absent class never gets a slot, whatever its importance says
        ([0.0, 9.0, 1.0], [3, 0, 3], 3, [0, 0, 3]),
    ],
)
def test_allocation_hand_computed(importance, available, batch, expected):
    assert allocate_batch(torch.tensor(importance), torch.tensor(available), batch).tolist() == expected
    assert reference_allocation(importance, available, batch) == expected


def test_allocation_rejects_mismatched_or_bad_inputs():
    with pytest.raises(ValueError, match="one finite value"):
        allocate_batch(torch.tensor([1.0, float("nan")]), torch.tensor([1, 1]), 1)
    with pytest.raises(ValueError, match="one finite value"):
        allocate_batch(torch.tensor([1.0]), torch.tensor([1, 1]), 1)


def test_one_candidate_or_one_shared_gradient_is_exactly_zero_importance():
    torch.manual_seed(0)
    head = nn.Linear(6, 3)
    h = torch.randn(5, 6)
    h[1:3] = h[3]  # class 1: three copies of one sample, so one gradient
    y = torch.tensor([0, 1, 1, 1, 2])  # classes 0 and 2: one candidate each
    with torch.no_grad():
        importance = class_importance(head(h), h, y, 4)
    assert importance.dtype == torch.float64
    assert importance.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_single_candidate_classes_tie_exactly_instead_of_by_rounding_noise():
    # three classes of one candidate each: every importance is exactly 0, so the one slot goes
    # by equal weights to the lowest class index (before: whichever noise was largest, ~1e-4)
    for seed in range(60):
        torch.manual_seed(seed)
        head = nn.Linear(4, 3)
        h = torch.randn(3, 4)
        y = torch.tensor([2, 0, 1])
        with torch.no_grad():
            idx, _ = cis_select(head(h), h, y, 1, 3, generator=torch.Generator().manual_seed(0))
        assert y[idx].tolist() == [0], seed


def test_a_single_candidate_class_gets_no_slot_while_a_positive_class_has_room():
    torch.manual_seed(3)
    head = nn.Linear(4, 2)
    h = torch.randn(6, 4)
    y = torch.tensor([0, 0, 0, 0, 0, 1])
    with torch.no_grad():
        idx, _ = cis_select(head(h), h, y, 5, 2, generator=torch.Generator().manual_seed(0))
    assert sorted(y[idx].tolist()) == [0, 0, 0, 0, 0]
