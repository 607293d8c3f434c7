"""Class-balancing reservoir sampling, CBRS (Chrysakis and Moens, "Online Continual Learning
from Imbalanced Data", ICML 2020, Algorithm 1; SPEC section 4): while the store is not full,
store. Otherwise a class is *full* if it is, or has been at an earlier step, the largest class
in the store. An arrival of a class that is not full replaces a uniformly chosen sample of (one
of, chosen uniformly) the largest class(es); an arrival of a full class c replaces a uniformly
chosen stored sample of class c with probability m_c / n_c, else it is dropped."""

import numpy as np

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import register_policy


@register_policy
class ClassBalancedReservoir(CapacityPolicy):
    name = "class_balanced"
    needs_labels = True

    def start(self, n_classes=1):
        super().start(n_classes)
        self.full_ = np.zeros(self.n_classes_, bool)  # has been the largest class once the store filled
        return self

    def _decide(self, c, score):
        free = self._free_slot()
        if free is not None:
            return free
        largest = self._largest_classes()
        self.full_[largest] = True
        if not self.full_[c]:
            return self._member_of_a_largest_class(largest)
        stored = len(self.slots_.by_class[c])
        if stored and self.rng_.random() < stored / self.seen_per_class_[c]:
            return self._random_member(c)
        return None

    def _extra_state(self):
        return {"full": self.full_.tolist()}

    def _set_extra_state(self, state):
        self.full_ = np.asarray(state["full"], bool)
