"""Titan's coarse-grained filter (SPEC section 2): shallow features, per-class running
estimators in constant memory, and a bounded candidate buffer ranked by a coarse score.

Score = lambda_rep * Rep + lambda_div * Div', with Rep(x, y) = -||f(x) - mu_y||^2 against the
running class mean, and Div' the mean (or min) squared distance from f(x) to the buffered
candidates of the same class. (The paper's Rep + Div against the same class distribution is
the same for every sample of a class, see SPEC; Div' is this project's documented decision.)
"""

from __future__ import annotations

import torch

DIVERSITY_MODES = ("mean", "min")


class ClassRunningStats:
    """Running mean feature mu_y and mean squared norm E||f||^2 per class: O(C x D) memory."""

    def __init__(self, n_classes: int, dim: int):
        self.count = torch.zeros(n_classes, dtype=torch.float64)
        self.mean = torch.zeros(n_classes, dim, dtype=torch.float64)
        self.mean_sq_norm = torch.zeros(n_classes, dtype=torch.float64)

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        f = features.double()
        n = torch.bincount(labels, minlength=self.count.shape[0]).double()
        sums = torch.zeros_like(self.mean).index_add_(0, labels, f)
        sq = torch.zeros_like(self.mean_sq_norm).index_add_(0, labels, f.pow(2).sum(dim=1))
        total = self.count + n
        seen = total > 0
        w_old = torch.where(seen, self.count / total.clamp_min(1), 0.0)
        self.mean = self.mean * w_old[:, None] + torch.where(seen[:, None], sums / total.clamp_min(1)[:, None], 0.0)
        self.mean_sq_norm = self.mean_sq_norm * w_old + torch.where(seen, sq / total.clamp_min(1), 0.0)
        self.count = total

    def representativeness(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """-||f - mu_y||^2 (0 for a class never seen: nothing to compare with)."""
        diff = features.double() - self.mean[labels]
        return torch.where(self.count[labels] > 0, -diff.pow(2).sum(dim=1), 0.0)

    def diversity_against_class(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The paper's Div = ||f||^2 + E||f'||^2 - 2 <f, mu_y> (kept for comparison)."""
        f = features.double()
        return f.pow(2).sum(dim=1) + self.mean_sq_norm[labels] - 2 * (f * self.mean[labels]).sum(dim=1)


class CandidateBuffer:
    """At most ``capacity`` candidates (features, sample, label, score); when full, a new
    candidate replaces the lowest-scored one if it scores higher."""

    def __init__(self, capacity: int, feature_dim: int, sample_shape: tuple[int, ...]):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.features = torch.zeros(capacity, feature_dim)
        self.samples = torch.zeros(capacity, *sample_shape)
        self.labels = torch.zeros(capacity, dtype=torch.long)
        self.scores = torch.full((capacity,), float("-inf"))
        self.size = 0

    def offer(self, features: torch.Tensor, samples: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor) -> None:
        """Offer a micro-batch: the buffer keeps the ``capacity`` highest scores among what it
        held and the new candidates (the same outcome as offering them one by one, ties aside)."""
        size = self.size
        all_scores = torch.cat([self.scores[:size], scores.float()])
        keep = torch.topk(all_scores, min(self.capacity, all_scores.numel())).indices
        self.features[: keep.numel()] = torch.cat([self.features[:size], features.float()])[keep]
        self.samples[: keep.numel()] = torch.cat([self.samples[:size], samples.to(self.samples.dtype)])[keep]
        self.labels[: keep.numel()] = torch.cat([self.labels[:size], labels])[keep]
        self.scores[: keep.numel()] = all_scores[keep]
        self.size = keep.numel()

    def take(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The buffered samples and labels (copies), emptying the buffer."""
        out = self.samples[: self.size].clone(), self.labels[: self.size].clone()
        self.size = 0
        self.scores.fill_(float("-inf"))
        return out


class CoarseFilter:
    """Scores each streaming sample from its shallow features and keeps the best in a buffer.

    ``feature_fn`` maps a batch (N, ...) to shallow features; anything is flattened to (N, D).

    >>> filt = CoarseFilter(lambda x: x, n_classes=2, capacity=3)
    >>> scores = filt.offer(torch.randn(10, 4), torch.tensor([0, 1] * 5))
    >>> filt.buffer.size
    3
    """

    def __init__(self, feature_fn, n_classes: int, capacity: int = 30, *, lambda_rep: float = 1.0,
                 lambda_div: float = 1.0, diversity: str = "mean"):
        if diversity not in DIVERSITY_MODES:
            raise ValueError(f"diversity must be one of {DIVERSITY_MODES}, got {diversity!r}")
        self.feature_fn, self.n_classes, self.capacity = feature_fn, n_classes, capacity
        self.lambda_rep, self.lambda_div, self.diversity = lambda_rep, lambda_div, diversity
        self.stats = None
        self.buffer = None

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        f = self.feature_fn(x).reshape(x.shape[0], -1).float()
        if not bool(torch.isfinite(f).all()):
            raise ValueError("shallow features hold NaN or Inf; check the input stream")
        return f

    def scores(self, f: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        rep = self.stats.representativeness(f, labels)
        return self.lambda_rep * rep + self.lambda_div * self._buffer_diversity(f, labels)

    def _buffer_diversity(self, f: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        size = self.buffer.size
        if size == 0:
            return torch.zeros(f.shape[0], dtype=torch.float64)
        d = torch.cdist(f.double(), self.buffer.features[:size].double()).pow(2)  # (N, size)
        same = labels[:, None] == self.buffer.labels[:size][None, :]
        if self.diversity == "mean":
            total = torch.where(same, d, 0.0).sum(dim=1)
            return torch.where(same.any(dim=1), total / same.sum(dim=1).clamp_min(1), 0.0)
        return torch.where(same, d, torch.full_like(d, float("inf"))).amin(dim=1).nan_to_num(posinf=0.0)

    def offer(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Update the class estimators with a micro-batch and offer it to the buffer; returns
        each sample's coarse score."""
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.n_classes):
            raise ValueError(f"labels must be in [0, {self.n_classes}), got {labels.min()}..{labels.max()}")
        f = self.features(x)
        if self.stats is None:
            self.stats = ClassRunningStats(self.n_classes, f.shape[1])
            self.buffer = CandidateBuffer(self.capacity, f.shape[1], tuple(x.shape[1:]))
        self.stats.update(f, labels)
        # diversity is measured against the buffer as it was before this micro-batch
        scores = self.scores(f, labels)
        self.buffer.offer(f, x, labels, scores)
        return scores
