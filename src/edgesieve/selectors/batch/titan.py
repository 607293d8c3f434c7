"""Titan (Gong et al., KDD 2025; SPEC section 2): the coarse filter fills a small buffer, C-IS
picks the batch from it."""

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import Picked
from edgesieve.selectors.registry import register_selector
from edgesieve.titan.functional import cis_select_with_norms


@register_selector("titan")
class TitanSelector(BatchSelector):
    """Titan: the coarse filter fills a buffer; C-IS (class budgets from |S_y| sqrt(V[grad] -
    V[||grad||]), sampling by last-layer gradient norm) picks the batch.

    >>> import torch
    >>> from edgesieve.models import MnistCNN
    >>> torch.manual_seed(0) and None
    >>> model = MnistCNN()
    >>> sel = TitanSelector(model, batch=10, buffer=30).calibrate(torch.rand(50, 1, 28, 28), torch.arange(50) % 10)
    >>> d = sel.decide(torch.rand(100, 1, 28, 28), torch.arange(100) % 10)
    >>> int(d.keep.sum()), d.reasons().count("not_picked"), d.reasons().count("coarse_filtered")
    (10, 20, 70)
    """

    default_coarse = "titan"

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        idx, w, norms = cis_select_with_norms(logits, features, labels, k, logits.shape[1], generator=generator)
        return Picked(idx, w, norms.float())
