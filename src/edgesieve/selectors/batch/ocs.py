"""OCS (online coreset selection, Yoon et al., ICLR 2022, as the Titan paper runs it): per class,
the candidates whose gradients are most similar to the round's mean gradient and least similar
to each other (cosine), within class quotas; on the gradient Gram matrix, never building the
gradients themselves."""

import torch

from edgesieve.selectors.batch.base import BatchSelector
from edgesieve.selectors.batch.picked import Picked, per_class_quotas, top
from edgesieve.selectors.registry import register_selector
from edgesieve.titan.functional import last_layer_gradients


def gradient_gram(logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Inner products of the per-sample last-layer gradients, without building them:
    <g_i [h_i, 1]^T, g_j [h_j, 1]^T>_F = (g_i . g_j) ([h_i, 1] . [h_j, 1])."""
    g = last_layer_gradients(logits.double(), labels)
    h = torch.cat([features.double(), torch.ones(features.shape[0], 1, dtype=torch.float64)], dim=1)
    return (g @ g.T) * (h @ h.T)


@register_selector("ocs")
class OnlineCoresetSelector(BatchSelector):
    """OCS: gradient similarity to the round's mean gradient plus diversity, class quotas."""

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None, diversity_weight: float = 1.0):
        gram = gradient_gram(logits, features, labels)
        norms = gram.diag().clamp_min(1e-24).sqrt()
        cos = gram / (norms[:, None] * norms[None, :])
        mean_norm = gram.mean().clamp_min(1e-24).sqrt()
        similarity = gram.mean(dim=1) / (norms * mean_norm)
        diversity = -(cos.sum(dim=1) - cos.diag()) / max(1, labels.numel() - 1)
        score = similarity + diversity_weight * diversity
        idx = per_class_quotas(labels, k, lambda members, quota: members[top(score[members], quota).index])
        return Picked(idx, torch.ones(idx.numel()), score.float())
