"""Per-round batch selection from the candidate buffer: Titan's C-IS and the baselines that
rank by the model's output (SPEC section 2). Each takes the model's logits on the buffer, the
last layer's input features and the labels, and returns a ``Picked``: batch indices, sample
weights (1 unless the method importance-samples) and every candidate's score under the method
(higher = more wanted; 0 for methods that do not rank: RS, Camel)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from edgesieve.titan.features import eval_mode
from edgesieve.titan.functional import (
    cis_select_with_norms,
    last_layer_grad_norms,
    last_layer_gradients,
    proportional_budgets,
    sample_proportional,
)


@torch.no_grad()
def logits_and_features(model: nn.Module, x: torch.Tensor, head: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """One eval-mode forward: logits and the input of ``head`` (the last linear layer); every
    module's mode is restored afterwards."""
    captured = []
    handle = head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0].detach()))
    try:
        with eval_mode(model):
            logits = model(x)
    finally:
        handle.remove()
    return logits, captured[0].reshape(x.shape[0], -1)


class Picked(NamedTuple):
    index: torch.Tensor  # int64 (k,), positions in the buffer
    weight: torch.Tensor  # float32 (k,)
    score: torch.Tensor  # float32 (n,), every candidate's score under the method


def _top(values: torch.Tensor, k: int) -> Picked:
    idx = torch.argsort(values, descending=True, stable=True)[:k]
    return Picked(idx, torch.ones(idx.numel()), values.float())


def _unranked(idx: torch.Tensor, n: int) -> Picked:
    return Picked(idx, torch.ones(idx.numel()), torch.zeros(n))


def select_rs(logits, features, labels, k, generator=None, inputs=None):
    """RS: a uniform random batch."""
    return _unranked(torch.randperm(labels.numel(), generator=generator)[:k], labels.numel())


def select_is(logits, features, labels, k, generator=None, inputs=None):
    """IS: sampling proportional to the last-layer gradient norm, no class structure."""
    norms = last_layer_grad_norms(logits, features, labels)
    idx = sample_proportional(norms, k, generator)
    p = norms[idx] / norms.sum().clamp_min(1e-12)
    w = 1.0 / (labels.numel() * k * p.clamp_min(1e-12))
    return Picked(idx, (w / w.mean()).float(), norms.float())


def select_titan(logits, features, labels, k, generator=None, inputs=None):
    """Titan's C-IS: class budgets from |S_y| sqrt(V[grad] - V[||grad||]), sampling by norm."""
    idx, w, norms = cis_select_with_norms(logits, features, labels, k, logits.shape[1], generator=generator)
    return Picked(idx, w, norms.float())


def select_hl(logits, features, labels, k, generator=None, inputs=None):
    """HL: the highest cross-entropy losses."""
    return _top(nn.functional.cross_entropy(logits, labels, reduction="none"), k)


def select_ll(logits, features, labels, k, generator=None, inputs=None):
    """LL: the lowest cross-entropy losses (score = -loss)."""
    return _top(-nn.functional.cross_entropy(logits, labels, reduction="none"), k)


def select_ce(logits, features, labels, k, generator=None, inputs=None):
    """CE: the highest entropy of the predicted distribution."""
    p = logits.softmax(dim=1)
    return _top(-(p * p.clamp_min(1e-12).log()).sum(dim=1), k)


def gradient_gram(logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Inner products of the per-sample last-layer gradients, without building them:
    <g_i [h_i, 1]^T, g_j [h_j, 1]^T>_F = (g_i . g_j) ([h_i, 1] . [h_j, 1])."""
    g = last_layer_gradients(logits.double(), labels)
    h = torch.cat([features.double(), torch.ones(features.shape[0], 1, dtype=torch.float64)], dim=1)
    return (g @ g.T) * (h @ h.T)


def select_ocs(logits, features, labels, k, generator=None, inputs=None, diversity_weight: float = 1.0):
    """OCS: per class, the samples whose gradients are most similar to the buffer's mean
    gradient and least similar to each other (cosine), within class quotas."""
    gram = gradient_gram(logits, features, labels)
    norms = gram.diag().clamp_min(1e-24).sqrt()
    cos = gram / (norms[:, None] * norms[None, :])
    mean_norm = gram.mean().clamp_min(1e-24).sqrt()
    similarity = gram.mean(dim=1) / (norms * mean_norm)
    n = labels.numel()
    diversity = -(cos.sum(dim=1) - cos.diag()) / max(1, n - 1)
    score = similarity + diversity_weight * diversity
    chosen = []
    for c, quota in enumerate(proportional_budgets(labels, k).tolist()):
        if quota:
            members = torch.nonzero(labels == c).flatten()
            chosen.append(members[_top(score[members], quota).index])
    idx = torch.cat(chosen)
    return Picked(idx, torch.ones(idx.numel()), score.float())


def select_camel(logits, features, labels, k, generator=None, inputs=None):
    """Camel-style greedy coreset in input space: per class, k-center greedy (each pick is
    the candidate farthest from those already picked, starting nearest the class mean)."""
    if inputs is None:
        raise ValueError("camel selects in input space: pass inputs")
    x = inputs.reshape(inputs.shape[0], -1).double()
    chosen = []
    for c, quota in enumerate(proportional_budgets(labels, k).tolist()):
        if not quota:
            continue
        members = torch.nonzero(labels == c).flatten()
        xc = x[members]
        first = int(torch.cdist(xc, xc.mean(0, keepdim=True)).flatten().argmin())
        picked = [first]
        nearest = torch.cdist(xc, xc[first : first + 1]).flatten()
        for _ in range(quota - 1):  # a loop over picks (at most |B|), not over samples
            nxt = int(nearest.argmax())
            picked.append(nxt)
            nearest = torch.minimum(nearest, torch.cdist(xc, xc[nxt : nxt + 1]).flatten())
        chosen.append(members[torch.tensor(picked)])
    return _unranked(torch.cat(chosen), labels.numel())


BATCH_SELECTORS = {
    "titan": select_titan,
    "rs": select_rs,
    "is": select_is,
    "hl": select_hl,
    "ll": select_ll,
    "ce": select_ce,
    "ocs": select_ocs,
    "camel": select_camel,
}


def select_batch(method: str, logits, features, labels, k: int, generator=None, inputs=None) -> Picked:
    """Dispatch by name, with the checks every method shares."""
    if method not in BATCH_SELECTORS:
        raise ValueError(f"unknown batch selector {method!r}; available: {', '.join(BATCH_SELECTORS)}")
    n = labels.numel()
    if k < 1:
        raise ValueError(f"batch size must be positive, got {k}")
    if n < k:
        raise ValueError(f"the buffer holds {n} candidates, fewer than the batch size {k}")
    if not (bool(torch.isfinite(logits).all()) and bool(torch.isfinite(features).all())):
        raise ValueError("logits or features hold NaN or Inf")
    return BATCH_SELECTORS[method](logits, features, labels, k, generator, inputs)
