"""Rank-based selection by loss (Loshchilov and Hutter, "Online Batch Selection for Faster
Training of Neural Networks", ICLR 2016 workshop; SPEC section 4): candidates ranked by their
latest loss, highest first (rank i = 1..N), are selected with probability proportional to
exp(-ln(s_e) i / N), so the highest-loss candidate is about s_e times as likely as the lowest.
The batch is drawn without replacement; unit weights."""

import math

import torch
from torch import nn

from edgesieve.selectors.batch.base import BatchSelector, check_buffer
from edgesieve.selectors.batch.picked import Picked
from edgesieve.selectors.registry import register_selector

DEFAULT_PRESSURE = 100.0


def rank_probabilities(losses: torch.Tensor, pressure: float) -> torch.Tensor:
    """Selection probability of each candidate (float64, sums to 1): rank by loss, highest first
    (ties: the earlier candidate first), p_i proportional to exp(-ln(pressure) rank_i / N).

    >>> p = rank_probabilities(torch.tensor([0.1, 2.0, 0.5]), 100.0)   # ranks 3, 1, 2
    >>> [round(float(v), 4) for v in p / p[1]]   # relative to the highest loss: 100^(-2/3), 1, 100^(-1/3)
    [0.0464, 1.0, 0.2154]
    """
    n = losses.numel()
    order = torch.argsort(losses, descending=True, stable=True)
    rank = torch.empty(n, dtype=torch.float64)
    rank[order] = torch.arange(1, n + 1, dtype=torch.float64)
    w = torch.exp(-math.log(pressure) * rank / n)
    return w / w.sum()


def rank_pick(logits, labels, k: int, pressure: float, generator=None) -> Picked:
    p = rank_probabilities(nn.functional.cross_entropy(logits, labels, reduction="none").detach(), pressure)
    idx = torch.multinomial(p, k, replacement=False, generator=generator)
    return Picked(idx, torch.ones(k), p.float())


@register_selector("rank-loss")
class RankLossSelector(BatchSelector):
    """Rank-loss: selection probability falling exponentially with the loss rank (pressure s_e)."""

    extra_params = {"pressure": DEFAULT_PRESSURE}

    def _check_params(self) -> str:
        if isinstance(self.pressure, bool) or not isinstance(self.pressure, (int, float)) or not self.pressure >= 1:
            raise ValueError(f"pressure (s_e) must be a number >= 1, got {self.pressure!r}")
        return super()._check_params()

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        return rank_pick(logits, labels, k, DEFAULT_PRESSURE, generator)

    def _fine(self, logits, features, labels, k, inputs):
        check_buffer(logits, features, labels, k)
        return rank_pick(logits, labels, k, float(self.pressure), self.rng_)
