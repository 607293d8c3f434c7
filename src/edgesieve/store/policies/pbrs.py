"""PBRS, prediction-balanced reservoir sampling (Gong et al., "NOTE: Robust Continual Test-time
Adaptation Against Temporal Correlation", NeurIPS 2022; SPEC section 4): CBRS's rule on the
model's predicted class, n_c counting the arrivals predicted as c. As in the published code, a
class is "largest" only while it currently is (no memory of having been): when the store is
full, an arrival predicted as a class that is not currently (one of) the largest replaces a
uniformly chosen sample of a largest class; otherwise it replaces a uniformly chosen sample of
its own class with probability m_c / n_c, else it is dropped. Needs no labels."""

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import register_policy


@register_policy
class PredictionBalancedReservoir(CapacityPolicy):
    name = "pbrs"
    needs_labels = True
    label_free = True

    def _decide(self, c, score):
        free = self._free_slot()
        if free is not None:
            return free
        largest = self._largest_classes()
        if c not in largest:
            return self._member_of_a_largest_class(largest)
        if self.rng_.random() <= len(self.slots_.by_class[c]) / self.seen_per_class_[c]:
            return self._random_member(c)
        return None
