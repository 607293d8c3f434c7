"""Our store policy family, ``trust_balanced``: groups, quotas over groups, a choice within each
group (the own-policy issue).

- **Groups**: an arrival's group is the model's predicted class. With ``labelled_store=True``
  (the device loop: a kept sample is labelled, as retraining needs anyway) a stored sample moves
  to its true class as soon as the caller reports its label (``relabel``), so the quotas count
  true classes in the store while arrivals still need no label.
- **Quotas**: equal over the groups. When the store is full, an arrival of a group that is not
  *full* replaces a sample of a largest group; an arrival of a full group competes within its
  own group. ``full="largest"``: a group is full while it is (one of) the largest;
  ``full="quota"``: while it holds at least its equal share, M // (groups seen so far). With
  ``"largest"`` and ``labelled_store``, the arrival's predicted group is rarely the largest true
  class, so nearly every arrival enters and the store drifts to the stream's last stretch (about
  70% of it from the last fifth on a 35%-accurate model): fine for balance, bad on session
  streams, whose early sessions it forgets. ``"quota"`` keeps the reservoir rule m_c / n_c for
  groups at their share, as CBRS's "full" classes do; but m_c counts true classes and n_c
  predicted ones, so on real streams it drifts even more. ``full="reservoir"``: once the store is
  full, group c's i-th arrival enters with probability share / i (a reservoir of the group's
  share over the group's own arrivals: every stretch of them equally likely) and replaces a
  member of a largest class, so the store is balanced by the classes it counts and spread over
  the whole stream (HAR's session stream, 3 seeds: 92% of the sessions have a sample in the store,
  against 94% for reservoir sampling, 55% for ``"largest"``, 44% for ``"quota"``).
- **Within a group**: the score is the arrival's *trust* (higher: more likely that its group is
  its class; the caller computes it, e.g. confidence, or confidence plus agreement with the
  nearest factory prototype). ``within="trust"``: the lowest-trust member is the one replaced,
  and an arrival of a largest group enters only if it out-trusts it; ``within="random"``: a
  uniformly chosen member, and a largest group's arrival enters with probability m_c / n_c (the
  reservoir rule, as CBRS and PBRS do); ``within="uncertain"``: of two distinct uniformly drawn
  members, the more trusted is replaced (the store leans, mildly, to the samples the factory model is
  least sure of, with no label involved, so label noise is not favoured), and a largest group's
  arrival enters as with ``"random"``.

Memory O(M + C), work per arrival O(M / C) (a numpy argmin over one group); state is JSON."""

import numpy as np

from edgesieve.store.policies.base import CapacityPolicy
from edgesieve.store.policies.registry import register_policy

WITHIN = ("trust", "random", "uncertain")
FULL = ("largest", "quota", "reservoir")


@register_policy
class TrustBalanced(CapacityPolicy):
    name = "trust_balanced"
    needs_labels = True
    needs_scores = True
    label_free = True
    score_kind = "score"

    def __init__(self, capacity: int, seed: int = 0, within: str = "trust", labelled_store: bool = False,
                 full: str = "largest"):
        super().__init__(capacity, seed)
        self.within = within
        self.labelled_store = labelled_store
        self.full = full

    def start(self, n_classes=1):
        if self.within not in WITHIN:
            raise ValueError(f"{self.name}: within must be one of {WITHIN}, got {self.within!r}")
        if self.full not in FULL:
            raise ValueError(f"{self.name}: full must be one of {FULL}, got {self.full!r}")
        if not isinstance(self.labelled_store, bool):
            raise ValueError(f"{self.name}: labelled_store must be true or false, got {self.labelled_store!r}")
        super().start(n_classes)
        self.trust_ = np.zeros(self.capacity, np.float64)
        return self

    def _lowest(self, c: int) -> int:
        members = np.asarray(self.slots_.by_class[c], np.int64)
        return int(members[np.argmin(self.trust_[members])])

    def _victim(self, c: int) -> int:
        if self.within == "trust":
            return self._lowest(c)
        if self.within == "uncertain":
            return self._more_trusted_of_two(c)
        return self._random_member(c)

    def _decide(self, c, score):
        slot = self._free_slot()
        if slot is None and self.full == "reservoir":
            # group c's i-th arrival enters with probability share / i (a reservoir of the group's
            # share over its own arrivals: every stretch of the group's arrivals equally likely),
            # and room is made in a largest class
            if self.rng_.random() >= self._share() / self.seen_per_class_[c]:
                return None
            slot = self._victim_in_a_largest_class(self._largest_classes())
        elif slot is None:
            largest = self._largest_classes()
            if not self._is_full(c, largest):
                slot = self._victim_in_a_largest_class(largest)
            elif self.within == "trust":
                lowest = self._lowest(c)
                slot = lowest if score > self.trust_[lowest] else None
            else:
                m_c = len(self.slots_.by_class[c])
                keep = m_c and self.rng_.random() <= m_c / self.seen_per_class_[c]
                slot = self._victim(c) if keep else None
        if slot is not None:
            self.trust_[slot] = score
        return slot

    def _more_trusted_of_two(self, c: int) -> int:
        """A tournament of two distinct uniformly drawn members of group c: the more trusted one
        (the k-th least trusted of n leaves with probability 2k / (n (n - 1)), k = 0..n-1)."""
        members = self.slots_.by_class[c]
        if len(members) < 2:
            return members[0]
        i = int(self.rng_.integers(len(members)))
        j = int(self.rng_.integers(len(members) - 1))
        a, b = members[i], members[j + (j >= i)]
        return a if self.trust_[a] >= self.trust_[b] else b

    def _victim_in_a_largest_class(self, largest: np.ndarray) -> int:
        return self._victim(int(largest[int(self.rng_.integers(len(largest)))]))

    def _share(self) -> int:
        """A group's equal share of the store: M // (groups seen so far)."""
        return self.capacity // max(1, int(np.count_nonzero(self.seen_per_class_)))

    def _is_full(self, c: int, largest: np.ndarray) -> bool:
        if self.full == "largest":
            return c in largest
        return len(self.slots_.by_class[c]) >= self._share()

    def relabel(self, slot: int, label: int) -> None:
        """The stored sample in ``slot`` was labelled ``label``: with ``labelled_store`` it counts
        in that class's group from now on (a no-op otherwise)."""
        if self.labelled_store:
            if not 0 <= label < self.n_classes_ or self.slots_.label[slot] < 0:
                raise ValueError(f"{self.name}: cannot label slot {slot} as class {label}")
            self.slots_.put(int(slot), int(label))

    def _extra_state(self):
        return {"trust": self.trust_.tolist()}

    def _set_extra_state(self, state):
        self.trust_ = np.asarray(state["trust"], np.float64)
