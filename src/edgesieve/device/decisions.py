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
    probs: np.ndarray | None = None  # float32 (N, C): the model's softmax (None: a filter that lacks it)

    def __len__(self) -> int:
        return int(self.keep.shape[0])
