"""``drift:noise=S``: the inputs drift along the stream. Arrival t of n gets additive Gaussian
noise of standard deviation S * (t / (n - 1)) * (the pool's standard deviation): clean at the
start, S times the signal's spread at the end (for audio, a falling signal-to-noise ratio; for
images and IMU, a degrading sensor). The test split stays clean."""

from dataclasses import replace

import numpy as np

from edgesieve.streams.registry import Param, StreamScenario, register_stream


def _apply(stream, params, ctx):
    stream = stream.with_samples(ctx.pool_x)
    n = len(stream)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32) if n > 1 else np.zeros(n, np.float32)
    sd = params["noise"] * float(ctx.pool_x.std()) * ramp.reshape((n,) + (1,) * (stream.x.ndim - 1))
    x = stream.x + ctx.rng.standard_normal(stream.x.shape, dtype=np.float32) * sd
    return replace(stream, x=x.astype(np.float32))


register_stream(StreamScenario(
    "drift", "inputs drift: additive noise rising linearly from 0 to noise x the pool's std along the stream",
    {"noise": Param(float, 1.0, lambda v: None if v > 0 else "must be > 0", "noise std at the end / pool std")},
    apply=_apply))
