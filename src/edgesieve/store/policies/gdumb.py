"""GDumb's greedy class-balanced sampler (Prabhu, Torr and Dokania, "GDumb: A Simple Approach
that Questions Our Progress in Continual Learning", ECCV 2020; SPEC section 4): store while not
full; otherwise, with k the number of classes seen, an arrival of class c is stored if
m_c < M / k, replacing a uniformly chosen sample of (one of, chosen uniformly) the currently
largest class(es); else it is dropped."""

import numpy as np

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import register_policy


@register_policy
class GDumbSampler(CapacityPolicy):
    name = "gdumb"
    needs_labels = True

    def _decide(self, c, score):
        free = self._free_slot()
        if free is not None:
            return free
        k = int(np.count_nonzero(self.seen_per_class_))
        if len(self.slots_.by_class[c]) < self.capacity / k:
            return self._member_of_a_largest_class()
        return None
