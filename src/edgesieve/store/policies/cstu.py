"""CSTU, category-balanced sampling with timeliness and uncertainty (Yuan et al., "Robust
Test-Time Adaptation in Dynamic Scenarios", RoTTA, CVPR 2023; SPEC section 4). Capacity N, C
classes; U = entropy of the prediction. Every stored sample has an age A, +1 at every arrival
(stored or not); its score is H = 1 / (1 + exp(-A / N)) + U / ln C (lower is better), and a new
arrival has A = 0. An arrival predicted as class c with fewer than N / C stored: stored while
there is room, else it replaces the highest-H sample among the classes holding the most samples
if that H exceeds its own, else it is dropped. With N / C or more stored: the same comparison
within class c. Needs no labels. Work per arrival: O(N) numpy over the candidate slots."""

import math

import numpy as np

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import register_policy


@register_policy
class CategoryBalancedTimelinessUncertainty(CapacityPolicy):
    name = "cstu"
    needs_labels = True
    needs_scores = True
    label_free = True
    score_kind = "entropy"

    def start(self, n_classes=1):
        super().start(n_classes)
        self.born_ = np.zeros(self.capacity, np.int64)  # arrival number of the sample in each slot
        self.uncertainty_ = np.zeros(self.capacity, np.float64)
        return self

    def _heuristic(self, age, uncertainty):
        return 1.0 / (1.0 + np.exp(-age / self.capacity)) + uncertainty / math.log(max(self.n_classes_, 2))

    def _decide(self, c, score):
        own = self._heuristic(0.0, float(score))
        if len(self.slots_.by_class[c]) < self.capacity / self.n_classes_:
            free = self._free_slot()
            slot = free if free is not None else self._worst(self._largest_classes(), own)
        else:
            slot = self._worst(np.array([c]), own)
        if slot is not None:
            self.born_[slot], self.uncertainty_[slot] = self.seen_, float(score)
        return slot

    def _worst(self, classes, own):
        """The highest-H slot among ``classes`` if its H exceeds the arrival's, else None."""
        slots = np.concatenate([np.asarray(self.slots_.by_class[k], np.int64) for k in classes])
        h = self._heuristic((self.seen_ - self.born_[slots]).astype(np.float64), self.uncertainty_[slots])
        i = int(np.argmax(h))
        return int(slots[i]) if h[i] > own else None

    def _extra_state(self):
        return {"born": self.born_.tolist(), "uncertainty": self.uncertainty_.tolist()}

    def _set_extra_state(self, state):
        self.born_ = np.asarray(state["born"], np.int64)
        self.uncertainty_ = np.asarray(state["uncertainty"], np.float64)
