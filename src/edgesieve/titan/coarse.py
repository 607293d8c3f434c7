"""Titan's coarse-grained filter (SPEC section 2): shallow features, per-class running
estimators in constant memory, and a bounded candidate buffer ranked by a coarse score.

Score = lambda_rep * Rep + lambda_div * Div', with Rep(x, y) = -||f(x) - mu_y||^2 against the
running class mean, and Div' the mean (or min) squared distance from f(x) to the buffered
candidates of the same class. (The paper's Rep + Div against the same class distribution is
the same for every sample of a class, see SPEC; Div' is this project's documented decision.)

Distances use ||a||^2 + ||b||^2 - 2 a.b in float32 (one matrix product): the features of a
first block are wide (12,544 values for the MNIST CNN), and the scores only rank candidates.
"""

from __future__ import annotations

import torch

from edgesieve.titan.functional import best_per_class, proportional_budgets

DIVERSITY_MODES = ("mean", "min")
CLASS_SLOTS = ("proportional", "global")


def all_finite(t: torch.Tensor) -> bool:
    """True iff no NaN/Inf. A NaN or Inf makes the sum non-finite, so one sum (20x cheaper than
    ``isfinite(t).all()`` on wide features) settles the usual case; only a sum that overflowed
    is checked element by element."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def squared_norms(f: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(f, dim=1).pow(2)


class ClassRunningStats:
    """Running mean feature mu_y and mean squared norm E||f||^2 per class: O(C x D) memory."""

    def __init__(self, n_classes: int, dim: int):
        self.count = torch.zeros(n_classes, dtype=torch.float64)
        self.mean = torch.zeros(n_classes, dim)
        self.mean_sq_norm = torch.zeros(n_classes, dtype=torch.float64)

    def update(self, features: torch.Tensor, labels: torch.Tensor, sq_norms: torch.Tensor | None = None) -> None:
        f = features.float()
        sq = squared_norms(f) if sq_norms is None else sq_norms
        n = torch.bincount(labels, minlength=self.count.shape[0]).double()
        sums = torch.zeros_like(self.mean).index_add_(0, labels, f)
        sq_sums = torch.zeros_like(self.mean_sq_norm).index_add_(0, labels, sq.double())
        total = self.count + n
        seen = total > 0
        w_old = torch.where(seen, self.count / total.clamp_min(1), 0.0)
        inv = torch.where(seen, 1.0 / total.clamp_min(1), 0.0)
        self.mean.mul_(w_old[:, None].float()).add_(sums * inv[:, None].float())
        self.mean_sq_norm = self.mean_sq_norm * w_old + sq_sums * inv
        self.count = total

    def representativeness(self, features: torch.Tensor, labels: torch.Tensor,
                           sq_norms: torch.Tensor | None = None) -> torch.Tensor:
        """-||f - mu_y||^2 (0 for a class never seen: nothing to compare with)."""
        f = features.float()
        sq = squared_norms(f) if sq_norms is None else sq_norms
        mu = self.mean[labels]
        dist = (sq - 2 * (f * mu).sum(dim=1) + mu.pow(2).sum(dim=1)).clamp_min(0)
        return torch.where(self.count[labels] > 0, -dist.double(), 0.0)

    def diversity_against_class(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The paper's Div = ||f||^2 + E||f'||^2 - 2 <f, mu_y> (kept for comparison)."""
        f = features.double()
        mu = self.mean[labels].double()
        return f.pow(2).sum(dim=1) + self.mean_sq_norm[labels] - 2 * (f * mu).sum(dim=1)


class CandidateBuffer:
    """At most ``capacity`` candidates (features, id, label, score); when full, a new candidate
    replaces the lowest-scored one if it scores higher. ``ids`` say which streaming samples the
    candidates are (positions in the caller's round), so samples themselves never get copied."""

    def __init__(self, capacity: int, feature_dim: int):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.features = torch.zeros(capacity, feature_dim)
        self.sq_norms = torch.zeros(capacity)
        self.ids = torch.zeros(capacity, dtype=torch.long)
        self.labels = torch.zeros(capacity, dtype=torch.long)
        self.scores = torch.full((capacity,), float("-inf"), dtype=torch.float64)
        self.size = 0

    def offer(self, features: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor,
              sq_norms: torch.Tensor | None = None, quotas: torch.Tensor | None = None) -> None:
        """Offer a micro-batch: the buffer keeps the ``capacity`` highest scores among what it
        held and the new candidates (the same outcome as offering them one by one, ties aside).
        With ``quotas`` (slots per class, summing to at most the capacity), scores compete only
        within a class: class c keeps its ``quotas[c]`` best."""
        size = self.size
        all_scores = torch.cat([self.scores[:size], scores.double()])
        if quotas is None:
            keep = torch.topk(all_scores, min(self.capacity, all_scores.numel())).indices
        else:
            keep = best_per_class(all_scores, torch.cat([self.labels[:size], labels]), quotas)
        kept_old = torch.zeros(size, dtype=torch.bool)
        kept_old[keep[keep < size]] = True
        entering = keep[keep >= size] - size
        sq = squared_norms(features.float()) if sq_norms is None else sq_norms
        incoming = ((self.features, features), (self.sq_norms, sq), (self.ids, ids), (self.labels, labels),
                    (self.scores, scores))
        evicted = torch.nonzero(~kept_old).flatten()
        if evicted.numel() <= entering.numel():
            # entering candidates take the evicted rows, then empty ones: only new rows are written
            slots = torch.cat([evicted, torch.arange(size, self.capacity)])[: entering.numel()]
            for store, new in incoming:
                store[slots] = new[entering].to(store.dtype)
        else:  # quotas shrank a class: rewrite the kept rows compactly
            old = keep[keep < size]
            for store, new in incoming:
                store[: old.numel() + entering.numel()] = torch.cat([store[old], new[entering].to(store.dtype)])
        self.size = keep.numel()

    def take(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The buffered ids and labels (copies), emptying the buffer."""
        out = self.ids[: self.size].clone(), self.labels[: self.size].clone()
        self.clear()
        return out

    def clear(self) -> None:
        self.size = 0
        self.scores.fill_(float("-inf"))


class CoarseFilter:
    """Scores each streaming sample from its shallow features and keeps the best in a buffer.

    ``feature_fn`` maps a batch (N, ...) to shallow features; anything is flattened to (N, D).
    ``chunk``: a round is offered in micro-batches of this many samples, so a sample's
    diversity counts the candidates buffered before it in the same round (a whole round
    offered at once into an empty buffer would see no diversity at all).
    ``class_slots``: ``"proportional"`` (default) gives each class buffer slots in proportion
    to its share of the offered samples and ranks scores within a class only; ``"global"`` is
    the paper's single priority queue. Rep and Div' are distances within a class, on scales
    that differ by class (on MNIST, a "1" sits far closer to its class mean than an "8"): in one
    global queue, low-variance classes all but vanish from the buffer (digit 1: 12% of the
    stream, 1% of the buffer), and C-IS can only allocate what the buffer holds.

    >>> filt = CoarseFilter(lambda x: x, n_classes=2, capacity=3)
    >>> scores = filt.offer(torch.randn(10, 4), torch.tensor([0, 1] * 5))
    >>> filt.buffer.size
    3
    """

    def __init__(self, feature_fn, n_classes: int, capacity: int = 30, *, lambda_rep: float = 1.0,
                 lambda_div: float = 1.0, diversity: str = "mean", chunk: int = 10, class_slots: str = "proportional"):
        if diversity not in DIVERSITY_MODES:
            raise ValueError(f"diversity must be one of {DIVERSITY_MODES}, got {diversity!r}")
        if class_slots not in CLASS_SLOTS:
            raise ValueError(f"class_slots must be one of {CLASS_SLOTS}, got {class_slots!r}")
        if chunk < 1:
            raise ValueError(f"chunk must be positive, got {chunk}")
        self.feature_fn, self.n_classes, self.capacity = feature_fn, n_classes, capacity
        self.lambda_rep, self.lambda_div, self.diversity, self.chunk = lambda_rep, lambda_div, diversity, chunk
        self.class_slots = class_slots
        self.stats = None
        self.buffer = None

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        f = self.feature_fn(x).reshape(x.shape[0], -1).float()
        if not all_finite(f):
            raise ValueError("shallow features hold NaN or Inf; check the input stream")
        return f

    def _ensure_state(self, dim: int) -> None:
        if self.stats is None:
            self.stats = ClassRunningStats(self.n_classes, dim)
            self.buffer = CandidateBuffer(self.capacity, dim)

    def _check_labels(self, labels: torch.Tensor) -> None:
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.n_classes):
            raise ValueError(f"labels must be in [0, {self.n_classes}), got {labels.min()}..{labels.max()}")

    def warm_start(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        """Seed the class estimators with labelled data (e.g. a validation set); no buffering."""
        self._check_labels(labels)
        f = self.features(x)
        self._ensure_state(f.shape[1])
        self.stats.update(f, labels)

    def _buffer_diversity(self, f: torch.Tensor, labels: torch.Tensor, sq: torch.Tensor) -> torch.Tensor:
        size = self.buffer.size
        if size == 0:
            return torch.zeros(f.shape[0], dtype=torch.float64)
        held = self.buffer.features[:size]
        d = (sq[:, None] + self.buffer.sq_norms[:size][None, :] - 2 * f @ held.T).clamp_min(0).double()  # (N, size)
        same = labels[:, None] == self.buffer.labels[:size][None, :]
        if self.diversity == "mean":
            total = torch.where(same, d, 0.0).sum(dim=1)
            return torch.where(same.any(dim=1), total / same.sum(dim=1).clamp_min(1), 0.0)
        return torch.where(same, d, torch.full_like(d, float("inf"))).amin(dim=1).nan_to_num(posinf=0.0)

    def offer(self, x: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Update the class estimators with the samples and offer them to the buffer, ``chunk``
        at a time; returns each sample's coarse score. ``ids`` name the samples in the buffer
        (default: their positions in ``x``)."""
        self._check_labels(labels)
        f = self.features(x)
        self._ensure_state(f.shape[1])
        ids = torch.arange(x.shape[0]) if ids is None else ids
        sq = squared_norms(f)
        self.stats.update(f, labels, sq)  # the estimators include the offered samples
        rep = self.lambda_rep * self.stats.representativeness(f, labels, sq)
        quotas = None
        if self.class_slots == "proportional":
            held = self.buffer.labels[: self.buffer.size]
            quotas = proportional_budgets(torch.cat([held, labels]), self.capacity, self.n_classes)
        out = []
        for start in range(0, x.shape[0], self.chunk):  # a loop over micro-batches, not samples
            part = slice(start, start + self.chunk)
            # diversity is measured against the buffer as it was before this micro-batch
            scores = rep[part] + self.lambda_div * self._buffer_diversity(f[part], labels[part], sq[part])
            self.buffer.offer(f[part], ids[part], labels[part], scores, sq[part], quotas)
            out.append(scores)
        return torch.cat(out)
