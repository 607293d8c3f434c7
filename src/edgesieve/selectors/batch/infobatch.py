"""InfoBatch (Qin et al., "InfoBatch: Lossless Training Speed Up by Unbiased Dynamic Data
Pruning", ICLR 2024; SPEC section 4), adapted to a stream. Each round: candidates whose loss is
below the running mean of every loss seen so far are pruned with probability ``prune`` (r, paper
0.5); the kept low-loss ones are rescaled by 1 / (1 - r). From the survivors S the batch of k is
drawn uniformly; weights w_i = v_i |S| / N (v_i = 1 / (1 - r) or 1), so the batch's weighted mean
gradient is an unbiased estimate of the round's mean gradient (tests check it by simulation).
With ``total_rounds`` set, pruning stops for the last ``1 - anneal`` of them (paper: last 12.5%).
Training applies these weights whatever the protocol's importance-weight setting (they are the
method). State: the running sum and count of losses and the round counter (constant memory)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgesieve.selectors.batch.base import BatchSelector, check_buffer
from edgesieve.selectors.batch.picked import Picked
from edgesieve.selectors.registry import register_selector


def infobatch_pick(losses: torch.Tensor, k: int, threshold: float, prune: float, generator=None) -> Picked:
    """One round's pick given the pruning threshold (the running mean): the batch positions,
    weights v_i |S| / N and the keep probability of each candidate as its score."""
    n = losses.numel()
    low = losses < threshold
    coin = torch.rand(n, generator=generator)
    survive = ~low | (coin >= prune)
    if int(survive.sum()) < k:  # too few survivors for a batch: this round is not pruned
        survive = torch.ones(n, dtype=torch.bool)
        v = torch.ones(n)
    else:
        v = torch.where(low, torch.tensor(1.0 / (1.0 - prune)), torch.tensor(1.0))
    members = torch.nonzero(survive).flatten()
    idx = members[torch.randperm(members.numel(), generator=generator)[:k]]
    w = v[idx] * members.numel() / n
    keep_probability = torch.where(low, torch.tensor(1.0 - prune), torch.tensor(1.0))
    return Picked(idx, w.float(), keep_probability.float())


@register_selector("infobatch")
class InfoBatchSelector(BatchSelector):
    """InfoBatch: prune below-mean-loss candidates with probability r, rescale the kept ones by 1/(1-r)."""

    always_weighted = True

    extra_params = {"prune": 0.5, "anneal": 0.875, "total_rounds": None}

    def _check_params(self) -> str:
        if not isinstance(self.prune, (int, float)) or not 0 <= self.prune < 1:
            raise ValueError(f"prune (r) must be in [0, 1), got {self.prune!r}")
        if not isinstance(self.anneal, (int, float)) or not 0 < self.anneal <= 1:
            raise ValueError(f"anneal must be in (0, 1], got {self.anneal!r}")
        if self.total_rounds is not None and (isinstance(self.total_rounds, bool) or not isinstance(self.total_rounds, int)
                                              or self.total_rounds < 1):
            raise ValueError(f"total_rounds must be a positive int or None, got {self.total_rounds!r}")
        return super()._check_params()

    def calibrate(self, x, y=None) -> "InfoBatchSelector":
        super().calibrate(x, y)
        self.loss_sum_, self.loss_count_, self.rounds_seen_ = 0.0, 0.0, 0.0  # floats: constant size, exact to 2^53
        return self

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        losses = nn.functional.cross_entropy(logits, labels, reduction="none").detach()
        return infobatch_pick(losses, k, float(losses.mean()), 0.5, generator)

    def _fine(self, logits, features, labels, k, inputs):
        check_buffer(logits, features, labels, k)
        losses = nn.functional.cross_entropy(logits, labels, reduction="none").detach()
        threshold = self.loss_sum_ / self.loss_count_ if self.loss_count_ else float(losses.mean())
        annealed = self.total_rounds is not None and self.rounds_seen_ >= self.anneal * self.total_rounds
        picked = infobatch_pick(losses, k, threshold, 0.0 if annealed else float(self.prune), self.rng_)
        self.loss_sum_ += float(losses.sum())
        self.loss_count_ += losses.numel()
        self.rounds_seen_ += 1
        return picked

    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "loss_sum": self.loss_sum_, "loss_count": int(self.loss_count_),
                "rounds_seen": int(self.rounds_seen_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.loss_sum_ = float(state["loss_sum"])
        self.loss_count_ = float(state["loss_count"])
        self.rounds_seen_ = float(state["rounds_seen"])
