"""HUS, high-confidence uniform-class sampling (Gong et al., "SoTTA: Robust Test-Time
Adaptation on Noisy Data Streams", NeurIPS 2023; SPEC section 4): an arrival whose confidence
(max softmax of the model's prediction) is below ``threshold`` is dropped; the rest follow
PBRS on the predicted class, except that an arrival of a currently largest class always
replaces a uniformly chosen stored sample of its own class (no m_c / n_c coin). Needs no labels.

``threshold=None`` takes the paper's value for the number of classes C: 0.99 up to 10 classes,
0.66 up to 100, 0.33 beyond. ``hus_validated`` chooses it on the validation split instead."""

import numpy as np

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import register_policy


def paper_threshold(n_classes: int) -> float:
    return 0.99 if n_classes <= 10 else 0.66 if n_classes <= 100 else 0.33


def check_threshold(name: str, threshold) -> None:
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 < threshold < 1):
        raise ValueError(f"{name}: threshold must be a confidence in (0, 1), got {threshold!r}")


@register_policy
class HighConfidenceUniformClass(CapacityPolicy):
    name = "hus"
    needs_labels = True
    needs_scores = True
    label_free = True
    score_kind = "confidence"

    def __init__(self, capacity: int, seed: int = 0, threshold: float | None = None):
        super().__init__(capacity, seed)
        self.threshold = threshold

    def start(self, n_classes=1):
        check_threshold(self.name, self.threshold)
        keep = getattr(self, "threshold_", None)
        super().start(n_classes)
        self.threshold_ = keep if keep is not None else self._default_threshold()
        return self

    def _default_threshold(self):
        return self.threshold if self.threshold is not None else paper_threshold(self.n_classes_)

    def _decide(self, c, score):
        if score < self.threshold_:
            return None
        free = self._free_slot()
        if free is not None:
            return free
        largest = self._largest_classes()
        return self._random_member(c) if c in largest else self._member_of_a_largest_class(largest)

    def _extra_state(self):
        return {"threshold": self.threshold_}

    def _set_extra_state(self, state):
        self.threshold_ = None if state["threshold"] is None else float(state["threshold"])


#: thresholds ``hus_validated`` chooses from
THRESHOLD_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@register_policy
class ValidatedHighConfidenceUniformClass(HighConfidenceUniformClass):
    """HUS with its threshold chosen on the validation split: the largest threshold of
    ``THRESHOLD_GRID`` that still lets at least ``min_pass`` of every class's correctly predicted
    validation samples through, so no class is starved (what the paper's 0.99 does to a small
    model, which is rarely that confident) while the store prefers confident predictions. Where
    not even the grid's lowest threshold passes, the threshold is 0 (every arrival offered:
    a model that unsure has no confident predictions to prefer)."""

    name = "hus_validated"

    def __init__(self, capacity: int, seed: int = 0, threshold: float | None = None, min_pass: float = 0.5):
        super().__init__(capacity, seed, threshold)
        self.min_pass = min_pass

    def _default_threshold(self):
        return self.threshold  # None until fit_validation (unless a threshold is given)

    def fit_validation(self, probs, labels):
        probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.int64)
        if probs.ndim != 2 or len(probs) != len(labels) or not len(labels):
            raise ValueError(f"{self.name}: validation probabilities (N, C) and N labels are needed")
        confidence, correct = probs.max(1), probs.argmax(1) == labels
        chosen = 0.0
        for t in THRESHOLD_GRID:
            shares = [np.mean(confidence[correct & (labels == c)] >= t) for c in np.unique(labels[correct])]
            if shares and min(shares) >= self.min_pass:
                chosen = t
        self.threshold_ = float(chosen)
        return self

    def _decide(self, c, score):
        if getattr(self, "threshold_", None) is None:
            raise ValueError(f"{self.name}: call fit_validation(probs, labels) first")
        return super()._decide(c, score)
