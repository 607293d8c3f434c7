"""Reservoir sampling, Vitter's algorithm R (Vitter, "Random Sampling with a Reservoir", ACM
TOMS 1985; SPEC section 4): the first M arrivals are stored; arrival n > M replaces a uniformly
chosen stored sample with probability M / n, so every arrival ends up stored with probability
M / n. Needs no labels."""

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import register_policy


@register_policy
class Reservoir(CapacityPolicy):
    name = "reservoir"

    def _decide(self, c, score):
        free = self._free_slot()
        if free is not None:
            return free
        if self.rng_.random() < self.capacity / self.seen_:
            return int(self.rng_.integers(self.capacity))
        return None
