"""What a batch method's fine stage returns, and the small helpers the methods share."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Picked(NamedTuple):
    index: torch.Tensor  # int64 (k,), positions in the buffer
    weight: torch.Tensor  # float32 (k,)
    score: torch.Tensor  # float32 (n,), every candidate's score under the method (higher = more wanted)


def top(values: torch.Tensor, k: int) -> Picked:
    """The k highest values (ties: the earlier candidate), unit weights."""
    idx = torch.argsort(values, descending=True, stable=True)[:k]
    return Picked(idx, torch.ones(idx.numel()), values.float())


def unranked(idx: torch.Tensor, n: int) -> Picked:
    """A pick by a method that does not score candidates (score 0 for all)."""
    return Picked(idx, torch.ones(idx.numel()), torch.zeros(n))


def per_class_quotas(labels: torch.Tensor, k: int, pick_within) -> torch.Tensor:
    """Indices of a batch of k with class quotas in proportion to the class shares;
    ``pick_within(members, quota)`` chooses within one class (a loop over classes, not samples)."""
    from edgesieve.titan.functional import proportional_budgets

    chosen = [pick_within(torch.nonzero(labels == c).flatten(), quota)
              for c, quota in enumerate(proportional_budgets(labels, k).tolist()) if quota]
    return torch.cat(chosen)
