"""Decisions as numpy arrays, shared by the torch and the torch-free runtimes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BatchDecision:
    keep: np.ndarray  # bool (N,)
    score: np.ndarray  # float32 (N,)
    predicted: np.ndarray  # int64 (N,)
    reason: np.ndarray  # int8 codes into edgesieve.reasons.REASONS
    confidence: np.ndarray | None = None  # float32 (N,): max softmax (None: a filter that lacks it)
    entropy: np.ndarray | None = None  # float32 (N,): the prediction's entropy in nats

    def __len__(self) -> int:
        return int(self.keep.shape[0])
