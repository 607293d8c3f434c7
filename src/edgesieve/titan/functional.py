"""Titan's fine-grained selection (C-IS, SPEC section 2) as pure, batched functions.

For softmax cross-entropy on logits z = W h + b, the loss gradient of one sample with respect to
the last layer is grad_W = g h^T, grad_b = g with g = softmax(z) - onehot(y), so
||grad|| = ||g|| * sqrt(||h||^2 + 1): no backward pass.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

#: class importance below this share of (E||grad||)^2, under the square root, is rounding noise
SPREAD_RTOL = 1e-12


def last_layer_gradients(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """g = softmax(logits) - onehot(labels), shape (N, C)."""
    return logits.softmax(dim=1) - F.one_hot(labels, logits.shape[1]).to(logits.dtype)


def last_layer_grad_norms(logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample norm of the cross-entropy gradient w.r.t. the last layer's weight and bias.

    ``features`` is h, the last layer's input (N, D).

    >>> z = torch.tensor([[0.0, 0.0]]); h = torch.tensor([[3.0, 4.0]])
    >>> last_layer_grad_norms(z, h, torch.tensor([0]))   # ||(-.5, .5)|| * sqrt(25 + 1)
    tensor([3.6056])
    """
    g = last_layer_gradients(logits, labels)
    return g.norm(dim=1) * (features.pow(2).sum(dim=1) + 1).sqrt()


def class_importance(logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """I(y) = |S_y| * sqrt((E||grad||)^2 - ||E grad||^2) per class, float64 (0 for absent classes).

    (E||grad||)^2 - ||E grad||^2 = V[grad] - V[||grad||] >= 0. It is accumulated in float64 and
    clamped relative to the class's scale (SPEC section 2, rule 4), so a class with one
    candidate, or whose candidates share one gradient, is exactly 0 rather than rounding noise
    that would win it a slot. The summed gradient of every class at once:
    sum_i onehot(y_i) (x) g_i (x) [h_i, 1], one einsum.

    >>> z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]]); h = torch.ones(3, 2)
    >>> class_importance(z, h, torch.tensor([0, 0, 1]), 2).tolist()   # class 0: one gradient twice
    [0.0, 0.0]
    """
    g = last_layer_gradients(logits.double(), labels)
    h1 = torch.cat([features.double(), torch.ones(features.shape[0], 1, dtype=torch.float64)], dim=1)
    norms = g.norm(dim=1) * h1.norm(dim=1)
    onehot = F.one_hot(labels, n_classes).to(torch.float64)
    counts = onehot.sum(dim=0)
    grad_sums = torch.einsum("nc,nk,nd->ckd", onehot, g, h1)  # (classes, outputs, inputs + 1)
    n = counts.clamp_min(1)
    mean_norm_sq = ((onehot * norms[:, None]).sum(dim=0) / n).pow(2)
    spread = mean_norm_sq - grad_sums.pow(2).sum(dim=(1, 2)) / n.pow(2)
    # rounding leaves ~1e-16 * (E||g||)^2 where the true value is 0: anything below 1e-12 of the
    # scale (I below 1e-6 |S_y| E||g||) is taken as 0
    spread = torch.where((spread > SPREAD_RTOL * mean_norm_sq) & (counts > 1), spread, 0.0)
    return counts * spread.sqrt()


def water_fill(weights: np.ndarray, caps: np.ndarray, total: float) -> np.ndarray:
    """Real quotas q = min(caps, lambda * weights) summing to ``total`` (at most caps.sum()):
    classes whose share exceeds their cap are capped, the rest shared again in proportion.

    >>> water_fill(np.array([3.0, 1.0]), np.array([1, 10]), 4).tolist()
    [1.0, 3.0]
    """
    quota = np.zeros(len(weights))
    active = weights > 0
    left = float(total)
    while left > 0 and active.any():
        share = weights * (left / weights[active].sum())
        capped = active & (share >= caps * (1 - 1e-12))
        if not capped.any():
            quota[active] = share[active]
            break
        quota[capped] = caps[capped]
        left -= float(caps[capped].sum())
        active &= ~capped
    near = np.abs(quota - np.round(quota)) < 1e-9 * np.maximum(1.0, quota)
    return np.where(near, np.round(quota), quota)  # exact integers stay exact (no 2.9999 floors)


def allocate_batch(importance: torch.Tensor, available: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Integer per-class budgets by SPEC section 2's exact rule: T = min(batch_size,
    available.sum()); real quotas water-filled in proportion to ``importance`` and capped by
    ``available``; slots the classes of positive importance cannot hold water-filled with equal
    weights over the zero-importance classes that have candidates; then floors, and the
    remaining slots one each to the largest fractional parts (ties: the lower class index).

    >>> allocate_batch(torch.tensor([3.0, 1.0, 0.0]), torch.tensor([10, 10, 10]), 4).tolist()
    [3, 1, 0]
    >>> allocate_batch(torch.tensor([3.0, 1.0, 0.0]), torch.tensor([1, 10, 10]), 4).tolist()
    [1, 3, 0]
    >>> allocate_batch(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([1, 2, 2]), 4).tolist()
    [1, 2, 1]
    """
    # a handful of classes: numpy on the CPU costs microseconds where torch ops cost tens
    importance = importance.detach().cpu().double().numpy()
    available = available.detach().cpu().numpy().astype(np.int64)
    if importance.shape != available.shape or (available < 0).any() or not np.isfinite(importance).all():
        raise ValueError("importance and available need one finite value and one count >= 0 per class")
    importance = np.where(available > 0, np.clip(importance, 0, None), 0.0)
    caps = available.astype(np.float64)
    target = min(int(batch_size), int(available.sum()))
    quota = water_fill(importance, caps, target)
    rest = target - quota.sum()
    if rest > 1e-9:  # the classes of positive importance are full: equal weights for the others
        zero = (importance <= 0) & (available > 0)
        quota += water_fill(zero.astype(np.float64), caps, rest)
    budget = np.floor(quota).astype(np.int64)
    fraction = np.round(quota - budget, 9)  # 4/3 - 1 and 1/3 differ in float: ties stay ties
    missing = target - int(budget.sum())
    if missing > 0:  # largest fractional parts; a stable sort gives ties to the lower index
        budget[np.argsort(-fraction, kind="stable")[:missing]] += 1
    return torch.from_numpy(budget)


def sample_proportional(weights: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k distinct indices drawn with probability proportional to ``weights`` (successive
    sampling without replacement, via exponential keys: one vectorised draw).

    >>> sample_proportional(torch.tensor([0.0, 5.0, 0.0]), 1).tolist()
    [1]
    """
    if k <= 0:
        return torch.zeros(0, dtype=torch.long)
    one_class = torch.zeros(weights.numel(), dtype=torch.long)
    return sample_within_classes(weights, one_class, torch.tensor([min(k, weights.numel())]), generator)


def sample_within_classes(weights: torch.Tensor, labels: torch.Tensor, budgets: torch.Tensor,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """For every class c, ``budgets[c]`` distinct members drawn with probability proportional
    to ``weights`` (uniformly where a class's weights are all 0): one vectorised draw.

    >>> sample_within_classes(torch.tensor([0.0, 5.0, 1.0, 0.0]), torch.tensor([0, 0, 1, 1]),
    ...                       torch.tensor([1, 1])).tolist()
    [1, 2]
    """
    w = weights.double().clamp_min(0)
    class_total = torch.zeros(budgets.numel(), dtype=torch.float64).index_add_(0, labels, w)
    w = torch.where(class_total[labels] > 0, w, torch.ones_like(w))
    u = torch.rand(w.shape, generator=generator, dtype=torch.float64).clamp_min(1e-300)
    keys = torch.where(w > 0, -torch.log(u) / w, torch.full_like(w, float("inf")))
    return best_per_class(-keys, labels, budgets)  # the smallest keys win


def best_per_class(scores: torch.Tensor, labels: torch.Tensor, quotas: torch.Tensor) -> torch.Tensor:
    """Indices of the ``quotas[c]`` highest scores within each class c (one sort, no loop),
    ordered by class, then best first; ties keep their input order.

    >>> best_per_class(torch.tensor([5.0, 1.0, 3.0, 4.0]), torch.tensor([0, 0, 1, 1]), torch.tensor([1, 2])).tolist()
    [0, 3, 2]
    """
    order = torch.argsort(scores, descending=True, stable=True)
    order = order[torch.argsort(labels[order], stable=True)]  # by class, best first within it
    counts = torch.bincount(labels, minlength=quotas.numel())
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(order.numel()) - starts[labels[order]]
    return order[rank < quotas[labels[order]]]


def proportional_budgets(labels: torch.Tensor, total: int, n_classes: int | None = None) -> torch.Tensor:
    """Per-class slots in proportion to each class's count in ``labels``, summing to
    min(total, len(labels)) (largest remainder, see ``allocate_batch``).

    >>> proportional_budgets(torch.tensor([0, 0, 0, 1]), 2).tolist()
    [2, 0]
    """
    counts = torch.bincount(labels, minlength=n_classes or 0)
    return allocate_batch(counts.double(), counts, total)


def cis_select(
    logits: torch.Tensor,
    features: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    n_classes: int,
    *,
    generator: torch.Generator | None = None,
    class_variance: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """C-IS on a candidate buffer: indices of the batch and their importance-sampling weights.

    ``class_variance=False`` allocates by the class's summed gradient norm alone (plain IS's
    rule); True is Titan's |S_y| sqrt(V[grad] - V[||grad||]). Weights make the batch gradient
    an unbiased estimate of the buffer's mean gradient (up to the normalisation):
    w = 1 / (|S| * |B_y| * p), p the within-class probability, then normalised to mean 1.
    """
    idx, w, _ = cis_select_with_norms(logits, features, labels, batch_size, n_classes, generator=generator,
                                      class_variance=class_variance)
    return idx, w


def cis_select_with_norms(logits, features, labels, batch_size: int, n_classes: int, *,
                          generator: torch.Generator | None = None, class_variance: bool = True):
    """``cis_select`` plus every candidate's gradient norm (computed once, for callers that
    report it as the score)."""
    norms = last_layer_grad_norms(logits, features, labels)
    counts = torch.bincount(labels, minlength=n_classes)
    if class_variance:
        importance = class_importance(logits, features, labels, n_classes)
    else:
        importance = torch.zeros(n_classes, dtype=norms.dtype).index_add_(0, labels, norms)
    budgets = allocate_batch(importance, counts, batch_size)
    idx = sample_within_classes(norms, labels, budgets, generator)
    if idx.numel() == 0:
        return idx, torch.zeros(0), norms
    class_total = torch.zeros(n_classes, dtype=norms.dtype).index_add_(0, labels, norms)
    p = norms[idx] / class_total[labels[idx]].clamp_min(1e-12)
    w = 1.0 / (len(labels) * budgets[labels[idx]] * p.clamp_min(1e-12))
    return idx, (w / w.mean()).float(), norms
