"""trust_balanced as a batch method (the own-policy issue): the online counterpart of the store
policy that won the label-free store evidence (``trust_balanced:labelled_store=true,within=random``):
equal quotas over the round's classes, a uniformly random choice within each class. A class with
fewer candidates than its quota gives the rest to the others (water-filling), so the batch is as
balanced as the buffer allows. Training has the labels of what it trains on, so the groups are the
labels; without labels (``y=None``) the model's predictions stand in, as for every batch method."""

import torch

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import Picked
from edgesieve.selectors.registry import register_selector


def balanced_random(labels: torch.Tensor, k: int, generator=None) -> torch.Tensor:
    """k positions, as equal over the classes as their sizes allow, random within each class:
    every class's members get a random rank, and the k lowest ranks (ties between classes in a
    random order) are taken. Vectorised: two permutations and three sorts, no loop over classes.

    >>> labels = torch.tensor([0] * 8 + [1] * 2 + [2] * 5)
    >>> torch.bincount(labels[balanced_random(labels, 9, torch.Generator().manual_seed(0))], minlength=3).tolist()
    [4, 2, 3]
    """
    n = labels.numel()
    perm = torch.randperm(n, generator=generator)
    shuffled = labels[perm]
    order = torch.argsort(shuffled, stable=True)  # grouped by class, random order within
    grouped = shuffled[order]
    counts = torch.bincount(grouped)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n) - starts[grouped]
    key = rank * n + torch.randperm(n, generator=generator)  # rank first, then a random class order
    return perm[order[torch.argsort(key)[:k]]]


@register_selector("trust_balanced")
class TrustBalancedBatchSelector(BatchSelector):
    """trust_balanced: class-balanced quotas over the round's candidates, random within a class."""

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        idx = balanced_random(labels, k, generator)
        return Picked(idx, torch.ones(idx.numel()), torch.zeros(labels.numel()))

    def _needs_model_outputs(self, y) -> bool:
        # the labels are all it reads: given them, a round costs no forward pass (as RS), and picks
        # the same samples from the same draws; without them, the predictions stand in
        return y is None
