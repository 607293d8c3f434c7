"""Capacity policies by name: ``create_policy("class_balanced", capacity=1000)``. Built-ins are
imported on first use; a new policy is one module with ``@register_policy`` plus its name in
``BUILTIN_MODULES``."""

from __future__ import annotations

import importlib

import numpy as np

BUILTIN_MODULES = ("reservoir", "class_balanced", "gdumb", "evict_lowest")
_REGISTRY: dict = {}
_loaded = False


def register_policy(cls):
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a capacity policy named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def list_policies() -> list[str]:
    """Registered capacity policies, sorted.

    >>> {"reservoir", "class_balanced", "gdumb", "evict_lowest"} <= set(list_policies())
    True
    """
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(f"edgesieve.store.policies.{module}")
    return sorted(_REGISTRY)


def create_policy(name: str, capacity: int, seed: int = 0):
    if name not in list_policies():
        raise ValueError(f"unknown capacity policy {name!r}; available: {', '.join(list_policies())}")
    return _REGISTRY[name](capacity, seed)


def fill_store(name: str, capacity: int, labels=None, scores=None, *, n_classes: int | None = None, seed: int = 0) -> np.ndarray:
    """Run a policy over a whole stream, one arrival at a time; the stream positions in the store
    at the end (sorted). ``labels``: the class of each arrival (true or predicted) for the
    class-aware policies; ``scores`` for the score-based ones.

    >>> fill_store("reservoir", 3, labels=[0] * 10).size
    3
    """
    policy = create_policy(name, capacity, seed)
    n = len(labels) if labels is not None else len(scores) if scores is not None else None
    if n is None:
        raise ValueError("fill_store needs the stream's labels or scores (its length)")
    if policy.needs_labels and labels is None:
        raise ValueError(f"{name} balances classes: give the class of each arrival (the stream's label, or the "
                         "model's predicted class)")
    if policy.needs_scores and scores is None:
        raise ValueError(f"{name} keeps the highest scores: give a score per arrival")
    labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
    if n_classes is None:
        n_classes = int(labels.max()) + 1 if n else 1
    policy.start(n_classes)
    at_slot = np.full(capacity, -1, np.int64)
    for i in range(n):  # a device store decides one arrival at a time: the policy's state is sequential
        slot = policy.offer(int(labels[i]), None if scores is None else float(scores[i]))
        if slot is not None:
            at_slot[slot] = i
    return np.sort(at_slot[at_slot >= 0])
