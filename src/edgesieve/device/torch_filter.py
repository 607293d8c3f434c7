"""The torch runtime's filter: a calibrated selector behind the same numpy interface as
:class:`edgesieve.runtime.OnnxFilter`."""

from __future__ import annotations

import numpy as np
import torch

from edgesieve.device.decisions import BatchDecision


class TorchFilter:
    def __init__(self, selector):
        selector._check_calibrated()
        self.selector = selector
        self.sample_shape = tuple(selector.sample_shape_)
        self.n_classes = getattr(selector, "n_classes_", None)

    def decide(self, x: np.ndarray) -> BatchDecision:
        d = self.selector.decide(torch.from_numpy(np.ascontiguousarray(x)))
        return BatchDecision(keep=d.keep.numpy(), score=d.score.numpy(), predicted=d.predicted.numpy(), reason=d.reason.numpy(),
                             probs=None if d.probs is None else d.probs.numpy())
