"""Capacity policies by name: ``create_policy("class_balanced", capacity=1000)``. Built-ins are
imported on first use; a new policy is one module with ``@register_policy`` plus its name in
``BUILTIN_MODULES``."""

from __future__ import annotations

import importlib
import json

import numpy as np

BUILTIN_MODULES = ("reservoir", "class_balanced", "gdumb", "evict_lowest", "pbrs", "hus", "cstu", "trust_balanced")
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


def policy_class(name: str):
    if name not in list_policies():
        raise ValueError(f"unknown capacity policy {name!r}; available: {', '.join(list_policies())}")
    return _REGISTRY[name]


def parse_policy_spec(spec: str) -> tuple[str, dict]:
    """``"name:key=value,..."`` as ``(name, params)``: values are JSON where they parse (numbers,
    true / false), strings otherwise. Only the syntax is checked here.

    >>> parse_policy_spec("trust_balanced:within=random,labelled_store=true")
    ('trust_balanced', {'within': 'random', 'labelled_store': True})
    """
    name, _, rest = str(spec).partition(":")
    params: dict = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key or key in params:
            raise ValueError(f"{spec!r}: parameters are distinct key=value pairs, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return name, params


def create_policy(name: str, capacity: int, seed: int = 0, **params):
    """A policy by name; ``params`` are its own (e.g. ``threshold`` for hus)."""
    cls = policy_class(name)
    try:
        return cls(capacity, seed, **params)
    except TypeError as err:
        raise ValueError(f"{name}: bad parameters {sorted(params)} ({err})") from None


def fill_store(name: str, capacity: int, labels=None, scores=None, *, probs=None, n_classes: int | None = None,
               seed: int = 0, params: dict | None = None, validation=None, store_labels=None) -> np.ndarray:
    """Run a policy over a whole stream, one arrival at a time; the stream positions in the store
    at the end (sorted). ``labels``: the class of each arrival (true or predicted) for the
    class-aware policies; ``scores`` for the score-based ones; ``probs`` (N, C), the model's
    softmax per arrival, for the label-free ones (their class is its argmax, their score its
    confidence or entropy); ``validation=(probs, labels)`` for policies that choose a parameter
    on the validation split; ``store_labels``, the true label of each arrival, reported to a
    policy as soon as it stores the arrival (the device loop: a kept sample gets labelled).

    >>> fill_store("reservoir", 3, labels=[0] * 10).size
    3
    >>> fill_store("pbrs", 2, probs=[[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]).tolist()  # class 1 replaces one of 0
    [0, 2]
    """
    policy = create_policy(name, capacity, seed, **(params or {}))
    if probs is not None:
        probs = np.asarray(probs, np.float64)
        if probs.ndim != 2 or not np.isfinite(probs).all():
            raise ValueError(f"{name}: probs must be a finite (N, C) array of softmax probabilities, got shape {probs.shape}")
        if policy.label_free and labels is None:
            labels = probs.argmax(1)
        if policy.needs_scores and scores is None and policy.score_kind != "score":
            scores = policy.score_from_probs(probs)
        n_classes = probs.shape[1] if n_classes is None else n_classes
    n = len(labels) if labels is not None else len(scores) if scores is not None else None
    if n is None:
        raise ValueError("fill_store needs the stream's labels, scores or probabilities (its length)")
    if policy.label_free and labels is None:
        raise ValueError(f"{name} balances the model's predicted classes: give probs (or the predicted class of "
                         "each arrival as labels)")
    if policy.needs_labels and labels is None:
        raise ValueError(f"{name} balances classes: give the class of each arrival (the stream's label, or the "
                         "model's predicted class)")
    if policy.needs_scores and scores is None:
        what = {"score": "a score", "confidence": "the confidence", "entropy": "the entropy"}[policy.score_kind]
        raise ValueError(f"{name} needs {what} of each arrival: give scores (or probs)")
    labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
    if n_classes is None:
        n_classes = int(labels.max()) + 1 if n else 1
    if validation is not None:
        policy.fit_validation(*validation)
    policy.start(n_classes)
    at_slot = np.full(capacity, -1, np.int64)
    for i in range(n):  # a device store decides one arrival at a time: the policy's state is sequential
        slot = policy.offer(int(labels[i]), None if scores is None else float(scores[i]))
        if slot is not None:
            at_slot[slot] = i
            if store_labels is not None and hasattr(policy, "relabel"):
                policy.relabel(slot, int(store_labels[i]))
    return np.sort(at_slot[at_slot >= 0])
