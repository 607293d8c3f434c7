"""The random baseline: keep each point with probability p, reproducibly."""

from __future__ import annotations

import numpy as np
import torch

from edgesieve.selectors.base import REASON_CODES, Decision, Selector
from edgesieve.selectors.registry import register_selector
from edgesieve.state.files import StateFileError
from edgesieve.validation import as_batch


@register_selector("random")
class RandomSelector(Selector):
    """Keep each streaming point independently with probability ``p``.

    The draw for the i-th point ever seen is the i-th output of PCG64(seed), so decisions do
    not depend on how the stream is cut into batches, and a saved state resumes exactly.
    ``calibrate`` only records the sample shape (labels are ignored).

    >>> sel = RandomSelector(p=0.5, seed=0).calibrate(torch.zeros(4, 3))
    >>> a = sel.decide(torch.zeros(6, 3)).keep
    >>> b = RandomSelector(p=0.5, seed=0).calibrate(torch.zeros(4, 3))
    >>> torch.equal(a, torch.cat([b.decide(torch.zeros(2, 3)).keep, b.decide(torch.zeros(4, 3)).keep]))
    True
    """

    def __init__(self, p: float = 0.5, seed: int = 0):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.p = p
        self.seed = seed

    def calibrate(self, x, y=None) -> "RandomSelector":
        x = as_batch(x)
        self.sample_shape_ = tuple(x.shape[1:])
        self.n_seen_ = 0
        return self

    def decide(self, x, y=None) -> Decision:
        """Keep each point with probability p (labels, if given, are not used)."""
        self._check_calibrated()
        x = as_batch(x, sample_shape=self.sample_shape_)
        n = x.shape[0]
        bits = np.random.PCG64(self.seed)
        bits.advance(self.n_seen_)
        draws = torch.from_numpy(np.random.Generator(bits).random(n))
        self.n_seen_ += n
        keep = draws < self.p  # compared in float64: float32 could round a draw up to 1.0
        reason = torch.where(keep, REASON_CODES["random_keep"], REASON_CODES["random_drop"]).to(torch.int8)
        return Decision(keep=keep, score=draws.float(), predicted=torch.full((n,), -1, dtype=torch.long), reason=reason)

    def _get_state(self) -> dict:
        return {"sample_shape": list(self.sample_shape_), "n_seen": self.n_seen_}

    def _set_state(self, state: dict) -> None:
        shape, n_seen = state["sample_shape"], state["n_seen"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d > 0 for d in shape)):
            raise StateFileError(f"sample_shape must be a list of positive ints, got {shape!r}")
        if isinstance(n_seen, bool) or not isinstance(n_seen, int) or n_seen < 0:
            raise StateFileError(f"n_seen must be a non-negative int, got {n_seen!r}")
        self.sample_shape_ = tuple(shape)
        self.n_seen_ = n_seen
