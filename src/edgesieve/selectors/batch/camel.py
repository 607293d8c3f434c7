"""Camel-style greedy coreset in input space (as the Titan paper's rival): per class, k-center
greedy, each pick the candidate farthest from those already picked, starting nearest the class
mean; class quotas in proportion to the round."""

import torch

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import per_class_quotas, unranked
from edgesieve.selectors.registry import register_selector


def k_center_greedy(x: torch.Tensor, k: int) -> list[int]:
    """k rows of x: the one nearest the mean, then each the farthest from those picked."""
    picked = [int(torch.cdist(x, x.mean(0, keepdim=True)).flatten().argmin())]
    nearest = torch.cdist(x, x[picked[0] : picked[0] + 1]).flatten()
    for _ in range(k - 1):  # a loop over picks (at most |B|), not over samples
        nxt = int(nearest.argmax())
        picked.append(nxt)
        nearest = torch.minimum(nearest, torch.cdist(x, x[nxt : nxt + 1]).flatten())
    return picked


@register_selector("camel")
class CamelSelector(BatchSelector):
    """Camel: greedy k-center coreset in input space, class quotas."""

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        if inputs is None:
            raise ValueError("camel selects in input space: pass inputs")
        x = inputs.reshape(inputs.shape[0], -1).cpu().double()  # copied off the device before widening
        idx = per_class_quotas(labels, k, lambda members, quota: members[torch.tensor(k_center_greedy(x[members], quota))])
        return unranked(idx, labels.numel())
