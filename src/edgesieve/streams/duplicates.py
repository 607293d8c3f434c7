"""``duplicates:rate=P``: a fraction P of the arrivals repeat an earlier arrival, lightly
augmented. The stream keeps its length: round((1 - P) n) originals (the first ones of the
current order) and round(P n) repeats at seeded positions (never the first); each repeat
copies a uniformly chosen original that arrived before it. Augmentation: the input is rolled
along its last axis (and, for images, its height) by an integer in [-shift, shift], and Gaussian
noise of ``noise`` times the pool's standard deviation is added."""

from dataclasses import replace

import numpy as np

from edgesieve.streams.registry import Param, StreamScenario, fraction_below_one, register_stream


def augment(x: np.ndarray, shift: int, noise: float, scale: float, rng) -> np.ndarray:
    """Rolled and noised copies of ``x`` (N, ...): one shift per sample and axis."""
    out = x.copy()
    axes = [-1] + ([-2] if x.ndim == 4 else [])  # (N, C, H, W): width and height; else time
    for axis in axes:
        shifts = rng.integers(-shift, shift + 1, size=len(x))
        for s in np.unique(shifts):  # a handful of distinct shifts, not one loop per sample
            rows = shifts == s
            out[rows] = np.roll(out[rows], int(s), axis=axis)
    if noise > 0:
        out += rng.normal(0.0, noise * scale, size=out.shape).astype(out.dtype)
    return out


def _apply(stream, params, ctx):
    rng, n = ctx.rng, len(stream)
    n_rep = int(round(params["rate"] * n))
    if n_rep == 0:
        return stream
    repeat = np.zeros(n, bool)
    repeat[1 + rng.choice(n - 1, size=n_rep, replace=False)] = True
    originals_before = np.cumsum(~repeat)  # originals up to and including each position
    pick = np.floor(rng.random(n) * np.maximum(originals_before - (~repeat), 1)).astype(np.int64)
    src = np.arange(n)
    src[~repeat] = np.arange(n - n_rep)  # originals: the first n - n_rep arrivals, in order
    src[repeat] = pick[repeat]  # a repeat copies original number `pick`
    base = stream.take(np.arange(n - n_rep)).with_samples(ctx.pool_x)
    out = base.take(src)
    x = out.x.copy()
    scale = float(ctx.pool_x.std())
    x[repeat] = augment(x[repeat], params["shift"], params["noise"], scale, rng)
    return replace(out, x=x, duplicate=out.duplicate | repeat)


register_stream(StreamScenario(
    "duplicates", "a fraction rate of arrivals repeats an earlier arrival, lightly augmented (shift, noise)",
    {"rate": Param(float, None, fraction_below_one, "fraction of arrivals that are repeats"),
     "shift": Param(int, 2, lambda v: None if v >= 0 else "must be >= 0", "largest roll, in samples/pixels"),
     "noise": Param(float, 0.05, lambda v: None if v >= 0 else "must be >= 0", "noise std / pool std")},
    apply=_apply))
