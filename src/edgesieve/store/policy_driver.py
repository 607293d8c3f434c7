"""The store's capacity policies that are state machines of ``edgesieve.store.policies`` (the
label-free PBRS, HUS, CSTU and trust_balanced; keep-high-entropy and keep-high-loss), run inside
the store's transactions.

The policy decides in slots (0..M-1); the table ``policy_slots`` maps each slot to the sample
id that holds it, and the policy's JSON state (its slots, counts, random generator) is written
to ``meta`` in the same transaction as the batch's samples. So a crash loses nothing committed,
a resumed stream makes exactly the choices an uninterrupted one makes, and the store holds what
``fill_store`` computes for the same arrivals (the tests hold it to that). Torch-free, like the
store. Memory O(M + C); per arrival the policy's own cost plus one JSON write per batch.

The label-free policies group an arrival by the filter's predicted class, never its label; each
reads a score computed from the filter's softmax (``DRIVEN_POLICIES``). With
``trust_balanced:labelled_store=true`` a stored sample that carries a label is counted in its
labelled class (the device loop: what is kept gets labelled). ``high_loss`` keeps the highest
loss of the sample's label where the input has one, else of the predicted class (then it is
-log confidence: the least confident).
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from edgesieve.errors import StateFileError
from edgesieve.store.policies import create_policy
from edgesieve.store.policies.base import probs_score

#: store policy -> (the registered state machine it runs, the score it reads: None, or what is
#: computed from the filter's softmax). hus_validated needs a validation split, which a device
#: store does not have: give hus a threshold instead.
DRIVEN_POLICIES = {
    "pbrs": ("pbrs", None),
    "hus": ("hus", "confidence"),
    "cstu": ("cstu", "entropy"),
    "trust_balanced": ("trust_balanced", "confidence"),  # trust = confidence
    "high_entropy": ("evict_lowest", "entropy"),
    "high_loss": ("evict_lowest", "loss"),
}
#: the driven policies that balance the predicted classes
LABEL_FREE_BALANCING = ("pbrs", "hus", "cstu", "trust_balanced")
STATE_KEY = "policy_state"
SLOTS_SCHEMA = "CREATE TABLE IF NOT EXISTS policy_slots (slot INTEGER PRIMARY KEY, sample_id INTEGER NOT NULL UNIQUE)"


def scores_from_probs(kind: str, probs: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """The per-sample score ``kind`` (confidence, entropy, loss) from softmax rows ``probs``;
    ``loss`` is -log p of the label where one is given (>= 0), else of the predicted class.

    >>> p = np.array([[0.5, 0.5], [0.9, 0.1]])
    >>> scores_from_probs("confidence", p).tolist(), scores_from_probs("loss", p, np.array([-1, 1])).round(3).tolist()
    ([0.5, 0.9], [0.693, 2.303])
    """
    probs = np.asarray(probs, np.float64)
    if kind in ("confidence", "entropy"):
        return probs_score(kind, probs)
    if kind == "loss":
        target = probs.argmax(1)
        if labels is not None:
            labels = np.asarray(labels, np.int64)
            target = np.where(labels >= 0, labels, target)
        return -np.log(np.clip(probs[np.arange(len(probs)), target], 1e-12, None))
    raise ValueError(f"unknown score {kind!r}; known: confidence, entropy, loss")


def check_driven_policy(name: str, params: dict, max_samples, max_bytes, n_classes, seed: int) -> None:
    """The checks a capacity with a driven policy must pass before a store is made."""
    if max_samples is None:
        raise ValueError(f"the {name} policy needs max_samples (the store's size in samples)")
    if max_bytes is not None:
        raise ValueError(f"the {name} policy counts samples: give max_samples, not max_bytes")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"the {name} policy needs n_classes, the model's number of classes, got {n_classes!r}")
    if not isinstance(params, dict):
        raise ValueError(f"policy parameters must be a mapping, got {params!r}")
    create_policy(DRIVEN_POLICIES[name][0], max_samples, seed, **params).start(n_classes)  # the policy's own checks


class DrivenPolicy:
    """One store's policy: ``offer`` an arrival, ``bind`` its slot to the new sample's id, and
    ``save`` the state before the transaction commits. After a rolled-back transaction call
    ``forget``: the next use reloads the committed state."""

    def __init__(self, conn: sqlite3.Connection, name: str, max_samples: int, seed: int, params: dict, n_classes: int):
        self.conn, self.name = conn, name
        self.max_samples, self.seed, self.params, self.n_classes = max_samples, seed, dict(params), n_classes
        self.machine, self.score_kind = DRIVEN_POLICIES[name]
        self._policy = None

    def scores(self, probs: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        probs = np.asarray(probs)
        if probs.ndim != 2 or probs.shape[1] != self.n_classes:
            raise ValueError(f"the {self.name} policy needs the softmax over the model's {self.n_classes} classes, "
                             f"got shape {probs.shape}")
        return scores_from_probs(self.score_kind, probs, labels)

    def _loaded(self):
        if self._policy is None:
            self.conn.execute(SLOTS_SCHEMA)
            policy = create_policy(self.machine, self.max_samples, self.seed, **self.params)
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (STATE_KEY,)).fetchone()
            if row is None:
                policy.start(self.n_classes)
            else:
                try:
                    policy.set_state(json.loads(row[0]))
                except (ValueError, KeyError, TypeError) as err:  # JSONDecodeError is a ValueError
                    raise StateFileError(f"the store's {self.name} policy state is corrupt ({err})") from None
            self._policy = policy
        return self._policy

    def offer(self, predicted: int, score: float | None, label: int | None) -> tuple[int | None, int | None]:
        """The slot the arrival takes (None: dropped) and the id of the sample it replaces."""
        policy = self._loaded()
        slot = policy.offer(int(predicted), score)
        if slot is None:
            return None, None
        if label is not None and hasattr(policy, "relabel"):
            policy.relabel(slot, int(label))
        row = self.conn.execute("SELECT sample_id FROM policy_slots WHERE slot = ?", (slot,)).fetchone()
        return slot, None if row is None else int(row[0])

    def label(self, sample_id: int, label: int) -> None:
        """A stored sample was labelled after it was kept (the device loop): a policy that counts
        stored samples by their label (``relabel``) moves it to that class; the others ignore it."""
        policy = self._loaded()
        if not hasattr(policy, "relabel"):
            return
        row = self.conn.execute("SELECT slot FROM policy_slots WHERE sample_id = ?", (int(sample_id),)).fetchone()
        if row is not None:
            policy.relabel(int(row[0]), int(label))

    def bind(self, slot: int, sample_id: int) -> None:
        self.conn.execute("INSERT INTO policy_slots VALUES (?, ?) ON CONFLICT(slot) DO UPDATE SET "
                          "sample_id = excluded.sample_id", (int(slot), int(sample_id)))

    def save(self) -> None:
        self.conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                          (STATE_KEY, self._loaded().dumps()))

    def forget(self) -> None:
        self._policy = None
