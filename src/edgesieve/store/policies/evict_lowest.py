"""Keep the highest scores: while there is room, store; when full, an arrival whose score
exceeds the lowest stored score replaces that sample (DRIP in the capacity mode with its score;
keep-high-loss and keep-high-entropy with the factory model's loss or entropy). A min-heap
keeps the per-arrival cost O(log M)."""

import heapq

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import register_policy


@register_policy
class EvictLowest(CapacityPolicy):
    name = "evict_lowest"
    needs_scores = True

    def start(self, n_classes=1):
        super().start(n_classes)
        self.heap_: list[tuple[float, int]] = []  # (score, slot)
        return self

    def _decide(self, c, score):
        free = self._free_slot()
        if free is not None:
            heapq.heappush(self.heap_, (float(score), free))
            return free
        lowest, slot = self.heap_[0]
        if score > lowest:
            heapq.heapreplace(self.heap_, (float(score), slot))
            return slot
        return None

    def _extra_state(self):
        return {"heap": [[s, int(i)] for s, i in self.heap_]}

    def _set_extra_state(self, state):
        self.heap_ = [(float(s), int(i)) for s, i in state["heap"]]
        heapq.heapify(self.heap_)
