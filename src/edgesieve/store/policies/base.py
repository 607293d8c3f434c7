"""Store capacity policies as state machines: a store of at most M samples sees the stream one
arrival at a time and decides, per arrival, whether to store it and which stored sample it
replaces (SPEC section 4). Pure Python and numpy (torch-free, like the store), O(1) or O(C) work
per arrival (C classes), memory O(M + C) whatever the stream's length; state is JSON."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np

from edgesieve.errors import StateFileError
from edgesieve.pcg64 import default_rng


def probs_score(kind: str, probs) -> np.ndarray:
    """The prediction's ``confidence`` (max softmax) or ``entropy`` (nats) per row of ``probs``."""
    probs = np.asarray(probs, np.float64)
    if kind == "confidence":
        return probs.max(1)
    if kind == "entropy":
        return -(probs * np.log(np.clip(probs, 1e-12, None))).sum(1)
    raise ValueError(f"unknown score {kind!r}; known: confidence, entropy")


class Slots:
    """The store's slots and, per class, which slots hold it (swap-remove: O(1) updates)."""

    def __init__(self, capacity: int, n_classes: int):
        self.label = np.full(capacity, -1, np.int64)  # class held by each slot (-1: empty)
        self.by_class: list[list[int]] = [[] for _ in range(n_classes)]
        self.position = np.full(capacity, -1, np.int64)  # slot's index within its class list
        self.size = 0

    def counts(self) -> np.ndarray:
        return np.array([len(s) for s in self.by_class], np.int64)

    def put(self, slot: int, c: int) -> None:
        old = int(self.label[slot])
        if old >= 0:  # swap-remove the slot from its old class
            members, i = self.by_class[old], int(self.position[slot])
            last = members.pop()
            if last != slot:
                members[i] = last
                self.position[last] = i
        else:
            self.size += 1
        self.label[slot] = c
        self.position[slot] = len(self.by_class[c])
        self.by_class[c].append(slot)

    def to_json(self) -> dict:
        # the order within each class list matters: random picks index into it
        return {"label": self.label.tolist(), "by_class": [list(m) for m in self.by_class]}

    @classmethod
    def from_json(cls, doc: dict, capacity: int, n_classes: int) -> "Slots":
        label = np.asarray(doc["label"], np.int64)
        if label.shape != (capacity,) or label.min(initial=-1) < -1 or label.max(initial=-1) >= n_classes:
            raise StateFileError("store policy state: slot labels do not fit the capacity or the classes")
        by_class = doc.get("by_class")
        if not isinstance(by_class, list) or len(by_class) != n_classes:
            raise StateFileError("store policy state: one slot list per class is needed")
        slots = cls(capacity, n_classes)
        for c, members in enumerate(by_class):
            for slot in members:
                if not isinstance(slot, int) or not 0 <= slot < capacity or label[slot] != c:
                    raise StateFileError("store policy state: slot lists disagree with the slot labels")
                slots.put(slot, c)
        if slots.size != int(np.sum(label >= 0)):
            raise StateFileError("store policy state: inconsistent slots")
        return slots


class CapacityPolicy:
    """Base of the capacity policies. ``offer(label, score)`` returns the slot the arrival is
    written to (a new or a replaced one) or None when it is dropped; ``needs_labels`` says the
    policy uses a class per arrival (the stream's label, or the model's predicted class: the
    caller says which). Parameters are stored by ``__init__`` only; ``start(n_classes)`` builds
    the state (names ending in ``_``)."""

    name: ClassVar[str] = ""
    needs_labels: ClassVar[bool] = False
    needs_scores: ClassVar[bool] = False
    #: the class is always the model's predicted class (the label-free stores of SPEC section 4)
    label_free: ClassVar[bool] = False
    #: what the score is: given by the caller ("score"), or the prediction's "confidence" (max
    #: softmax) or "entropy", which ``score_from_probs`` computes
    score_kind: ClassVar[str] = "score"

    def __init__(self, capacity: int, seed: int = 0):
        self.capacity = capacity
        self.seed = seed

    def start(self, n_classes: int = 1) -> "CapacityPolicy":
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, (int, np.integer)) or self.capacity < 1:
            raise ValueError(f"capacity must be a positive number of samples, got {self.capacity!r}")
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
            raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
        self.n_classes_ = int(n_classes)
        self.slots_ = Slots(int(self.capacity), self.n_classes_)
        self.seen_ = 0
        self.seen_per_class_ = np.zeros(self.n_classes_, np.int64)
        self.rng_ = default_rng(self.seed)
        return self

    def offer(self, label: int = 0, score: float | None = None) -> int | None:
        if not hasattr(self, "slots_"):
            raise ValueError(f"{type(self).__name__}: call start(n_classes) before offering arrivals")
        if self.needs_labels and not 0 <= label < self.n_classes_:
            raise ValueError(f"{self.name}: class {label} outside [0, {self.n_classes_})")
        if self.needs_scores and (score is None or not np.isfinite(score)):
            raise ValueError(f"{self.name} needs a finite score per arrival, got {score!r}")
        c = int(label) if self.needs_labels else 0
        self.seen_ += 1
        self.seen_per_class_[c] += 1
        slot = self._decide(c, score)
        if slot is not None:
            self.slots_.put(slot, c)
        return slot

    def _decide(self, c: int, score) -> int | None:
        raise NotImplementedError

    @classmethod
    def score_from_probs(cls, probs: np.ndarray) -> np.ndarray:
        """The per-arrival score this policy reads, from softmax probabilities (N, C)."""
        if cls.score_kind not in ("confidence", "entropy"):
            raise ValueError(f"{cls.name} reads a given score, not one computed from probabilities")
        return probs_score(cls.score_kind, probs)

    def fit_validation(self, probs: np.ndarray, labels: np.ndarray) -> "CapacityPolicy":
        """Choose parameters on the validation split (the model's probabilities and the true
        labels); a no-op unless a policy says otherwise."""
        return self

    def _free_slot(self) -> int | None:
        return self.slots_.size if self.slots_.size < self.capacity else None

    def _random_member(self, c: int) -> int:
        members = self.slots_.by_class[c]
        return members[int(self.rng_.integers(len(members)))]

    def _largest_classes(self) -> np.ndarray:
        counts = self.slots_.counts()
        return np.flatnonzero(counts == counts.max())

    def _member_of_a_largest_class(self, largest: np.ndarray | None = None) -> int:
        """A uniformly chosen stored sample of (one of, chosen uniformly) the largest classes."""
        largest = self._largest_classes() if largest is None else largest
        return self._random_member(int(largest[int(self.rng_.integers(len(largest)))]))

    # -- state ------------------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return {"policy": self.name, "capacity": int(self.capacity), "seed": self.seed, "n_classes": self.n_classes_,
                "seen": int(self.seen_), "seen_per_class": self.seen_per_class_.tolist(), "slots": self.slots_.to_json(),
                "rng": self.rng_.state, **self._extra_state()}

    def set_state(self, state: dict[str, Any]) -> "CapacityPolicy":
        if state.get("policy") != self.name or state.get("capacity") != self.capacity:
            raise StateFileError(f"the state is for policy {state.get('policy')!r} with capacity "
                                 f"{state.get('capacity')!r}, not {self.name!r} with {self.capacity}")
        self.start(int(state["n_classes"]))
        self.seen_ = int(state["seen"])
        self.seen_per_class_ = np.asarray(state["seen_per_class"], np.int64)
        self.slots_ = Slots.from_json(state["slots"], int(self.capacity), self.n_classes_)
        self.rng_.state = state["rng"]
        self._set_extra_state(state)
        return self

    def _extra_state(self) -> dict:
        return {}

    def _set_extra_state(self, state: dict) -> None:
        pass

    def dumps(self) -> str:
        return json.dumps(self.get_state())
