"""CE: train on the candidates whose predicted distribution is most uncertain."""

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import top
from edgesieve.selectors.registry import register_selector


@register_selector("ce")
class EntropySelector(BatchSelector):
    """CE: the highest entropy of the predicted distribution."""

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        p = logits.softmax(dim=1)
        return top(-(p * p.clamp_min(1e-12).log()).sum(dim=1), k)
