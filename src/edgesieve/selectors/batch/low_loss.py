"""LL: train on the candidates the model already gets right (lowest cross-entropy)."""

from torch import nn

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import top
from edgesieve.selectors.registry import register_selector


@register_selector("ll")
class LowLossSelector(BatchSelector):
    """LL: the lowest cross-entropy losses of the round (score = -loss)."""

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        return top(-nn.functional.cross_entropy(logits, labels, reduction="none"), k)
