"""What a stream scenario produces: the ordered arrivals a device sees, with what is known
about each one for analysis only (clean label, source index, session, whether it repeats)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class StreamData:
    """Arrivals in order. ``y`` is what a device observes (it may be noisy); ``y_clean`` is
    the true class, for analysis only: selectors and training never see it. ``source`` is each
    arrival's index into the data set's training pool (a repeat has its original's index);
    ``sessions`` the session id of each arrival (0 everywhere when the stream has none);
    ``duplicate`` marks arrivals that repeat an earlier one. ``x`` is None while the samples are
    the pool's own (``samples(pool_x)`` reads them); a scenario that changes inputs sets it."""

    source: np.ndarray
    y: np.ndarray
    y_clean: np.ndarray
    sessions: np.ndarray
    duplicate: np.ndarray
    n_classes: int
    x: np.ndarray | None = None

    @classmethod
    def from_pool(cls, indices: np.ndarray, labels: np.ndarray, n_classes: int, sessions=None) -> "StreamData":
        indices = np.asarray(indices, dtype=np.int64)
        y = np.asarray(labels, dtype=np.int64)[indices]
        s = np.zeros(len(indices), np.int64) if sessions is None else np.asarray(sessions, np.int64)[indices]
        return cls(indices, y, y.copy(), s, np.zeros(len(indices), bool), n_classes)

    def __len__(self) -> int:
        return len(self.source)

    def take(self, positions: np.ndarray) -> "StreamData":
        """The arrivals at ``positions`` (in that order)."""
        p = np.asarray(positions, dtype=np.int64)
        return replace(self, source=self.source[p], y=self.y[p], y_clean=self.y_clean[p], sessions=self.sessions[p],
                       duplicate=self.duplicate[p], x=None if self.x is None else self.x[p])

    def samples(self, pool_x: np.ndarray) -> np.ndarray:
        """The arrivals' inputs (float32), read from the pool unless a scenario changed them."""
        return self.x if self.x is not None else np.ascontiguousarray(pool_x[self.source])

    def with_samples(self, pool_x: np.ndarray) -> "StreamData":
        return self if self.x is not None else replace(self, x=self.samples(pool_x))

    def describe(self) -> dict:
        """What the stream is, as ``edgesieve streams describe`` prints it."""
        counts = np.bincount(self.y_clean, minlength=self.n_classes)
        present = counts[counts > 0]
        return {
            "n": int(len(self)),
            "class_counts": [int(c) for c in counts],
            "imbalance_ratio": float(present.max() / present.min()) if len(present) else None,
            "classes_present": int(len(present)),
            "noisy_label_fraction": float(np.mean(self.y != self.y_clean)) if len(self) else 0.0,
            "duplicate_fraction": float(np.mean(self.duplicate)) if len(self) else 0.0,
            "sessions": int(len(np.unique(self.sessions))),
            "inputs_changed": self.x is not None,
        }
