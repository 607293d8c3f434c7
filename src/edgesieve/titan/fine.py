"""Per-round batch selection from the candidate buffer: Titan's C-IS and the baselines that
rank by the model's output (SPEC section 2). Each takes the model's logits on the buffer, the
last layer's input features and the labels, and returns batch indices and sample weights."""

from __future__ import annotations

import torch
from torch import nn

from edgesieve.titan.functional import cis_select, last_layer_grad_norms, sample_proportional


@torch.no_grad()
def logits_and_features(model: nn.Module, x: torch.Tensor, head: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """One eval-mode forward: logits and the input of ``head`` (the last linear layer)."""
    captured = []
    handle = head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0].detach()))
    was_training = model.training
    model.eval()
    try:
        logits = model(x)
    finally:
        handle.remove()
        model.train(was_training)
    return logits, captured[0].reshape(x.shape[0], -1)


def _top(values: torch.Tensor, k: int) -> torch.Tensor:
    return torch.argsort(values, descending=True, stable=True)[:k]


def _ones(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return idx, torch.ones(idx.numel())


def select_rs(logits, features, labels, k, generator=None):
    """RS: a uniform random batch."""
    return _ones(torch.randperm(labels.numel(), generator=generator)[:k])


def select_is(logits, features, labels, k, generator=None):
    """IS: sampling proportional to the last-layer gradient norm, no class structure."""
    norms = last_layer_grad_norms(logits, features, labels)
    idx = sample_proportional(norms, k, generator)
    p = norms[idx] / norms.sum().clamp_min(1e-12)
    w = 1.0 / (labels.numel() * k * p.clamp_min(1e-12))
    return idx, (w / w.mean()).float()


def select_titan(logits, features, labels, k, generator=None):
    """Titan's C-IS: class budgets from |S_y| sqrt(V[grad] - V[||grad||]), sampling by norm."""
    return cis_select(logits, features, labels, k, logits.shape[1], generator=generator)


def select_hl(logits, features, labels, k, generator=None):
    """HL: the highest cross-entropy losses."""
    return _ones(_top(nn.functional.cross_entropy(logits, labels, reduction="none"), k))


def select_ll(logits, features, labels, k, generator=None):
    """LL: the lowest cross-entropy losses."""
    return _ones(_top(-nn.functional.cross_entropy(logits, labels, reduction="none"), k))


def select_ce(logits, features, labels, k, generator=None):
    """CE: the highest entropy of the predicted distribution."""
    p = logits.softmax(dim=1)
    return _ones(_top(-(p * p.clamp_min(1e-12).log()).sum(dim=1), k))


BATCH_SELECTORS = {
    "titan": select_titan,
    "rs": select_rs,
    "is": select_is,
    "hl": select_hl,
    "ll": select_ll,
    "ce": select_ce,
}


def select_batch(method: str, logits, features, labels, k: int, generator=None):
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
    return BATCH_SELECTORS[method](logits, features, labels, k, generator)
