"""How much a label-free store can trust that an arrival's predicted class is its class (the
score ``trust_balanced`` ranks within a group). Pure numpy, torch-free like the store.

- ``confidence``: the model's max softmax probability.
- ``agreement``: confidence plus 1 when the arrival's penultimate features lie nearest (cosine)
  to the factory prototype of the predicted class, so an arrival that both the classifier and
  the feature geometry place in its group out-ranks any arrival on which they disagree."""

from __future__ import annotations

import numpy as np

TRUST_SOURCES = ("confidence", "agreement")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def class_prototypes(features, labels, n_classes: int) -> np.ndarray:
    """Mean unit feature vector of each class, (C, D); a class without samples gets zeros (it is
    then nobody's nearest prototype unless every similarity is below zero).

    >>> class_prototypes([[2.0, 0.0], [0.0, 3.0], [0.0, 1.0]], [0, 1, 1], 2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    f = _unit(np.asarray(features, np.float64))
    labels = np.asarray(labels, np.int64)
    if f.ndim != 2 or len(f) != len(labels):
        raise ValueError(f"features must be (N, D) with one label each, got {f.shape} and {labels.shape}")
    sums = np.zeros((n_classes, f.shape[1]))
    np.add.at(sums, labels, f)
    return _unit(sums) * (np.bincount(labels, minlength=n_classes) > 0)[:, None]


def prototype_agreement(features, predicted, prototypes) -> np.ndarray:
    """1.0 where the nearest prototype (cosine) is the predicted class, else 0.0.

    >>> prototype_agreement([[1.0, 0.1], [1.0, 0.0]], [0, 1], [[1.0, 0.0], [0.0, 1.0]]).tolist()
    [1.0, 0.0]
    """
    sims = _unit(np.asarray(features, np.float64)) @ np.asarray(prototypes, np.float64).T
    return (sims.argmax(1) == np.asarray(predicted, np.int64)).astype(np.float64)


def trust_scores(probs, source: str = "confidence", agreement=None) -> np.ndarray:
    """Trust of each arrival from its softmax ``probs`` (N, C) and, for ``agreement``, the
    prototype agreement of each arrival.

    >>> trust_scores([[0.7, 0.3], [0.4, 0.6]], "agreement", [0.0, 1.0]).tolist()
    [0.7, 1.6]
    """
    if source not in TRUST_SOURCES:
        raise ValueError(f"trust must be one of {TRUST_SOURCES}, got {source!r}")
    confidence = np.asarray(probs, np.float64).max(1)
    if source == "confidence":
        return confidence
    if agreement is None:
        raise ValueError("trust='agreement' needs the prototype agreement of each arrival")
    return confidence + np.asarray(agreement, np.float64)
