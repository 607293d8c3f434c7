"""HL: train on the candidates the model gets most wrong (highest cross-entropy)."""

from torch import nn

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import top
from edgesieve.selectors.registry import register_selector


@register_selector("hl")
class HighLossSelector(BatchSelector):
    """HL: the highest cross-entropy losses of the round."""

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        return top(nn.functional.cross_entropy(logits, labels, reduction="none"), k)
