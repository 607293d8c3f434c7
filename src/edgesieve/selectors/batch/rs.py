"""RS: a uniform random batch of the round (the reference every method is measured against)."""

import torch

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import unranked
from edgesieve.selectors.registry import register_selector


@register_selector("rs")
class RandomBatchSelector(BatchSelector):
    """RS: a uniformly random batch of the round. Model-free: no forward pass over the round
    (its decisions carry predicted = -1), unless a coarse stage is chosen."""

    needs_model_outputs = False

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        return unranked(torch.randperm(labels.numel(), generator=generator)[:k], labels.numel())
