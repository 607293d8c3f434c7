"""IS (Titan paper's main rival): sampling proportional to the last-layer gradient norm, with
importance weights for an unbiased batch gradient; no class structure."""

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import Picked
from edgesieve.selectors.registry import register_selector
from edgesieve.titan.functional import last_layer_grad_norms, sample_proportional


@register_selector("is")
class ImportanceSamplingSelector(BatchSelector):
    """IS: sampling proportional to the last-layer gradient norm, no class structure."""

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        norms = last_layer_grad_norms(logits, features, labels)
        idx = sample_proportional(norms, k, generator)
        p = norms[idx] / norms.sum().clamp_min(1e-12)
        w = 1.0 / (labels.numel() * k * p.clamp_min(1e-12))
        return Picked(idx, (w / w.mean()).float(), norms.float())
