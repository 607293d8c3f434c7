"""``make_stream(spec, bundle, seed)``: the stream a device sees, from a data set's pool."""

from __future__ import annotations

import numpy as np

from edgesieve.streams.base import StreamData
from edgesieve.streams.registry import StreamContext, parse_streams, stream_scenario


def make_stream(spec: str, bundle, seed: int, indices: np.ndarray | None = None) -> StreamData:
    """The stream of scenario ``spec`` over the training pool of ``bundle`` (or the pool
    positions ``indices``, e.g. the DRIP protocol's D3), deterministic given ``seed``. The pool
    is first shuffled with the seed (``iid``); the spec's components then apply left to right.

    >>> from edgesieve.data.bundle import DataBundle
    >>> b = DataBundle.from_arrays("toy", np.zeros((400, 1, 4), np.float32), np.arange(400) % 4, test_fraction=0.25)
    >>> s = make_stream("imbalanced:ratio=10+label-noise:rate=0.2", b, seed=0)
    >>> info = s.describe()
    >>> info["imbalance_ratio"], round(info["noisy_label_fraction"], 2)
    (10.0, 0.2)
    """
    components = parse_streams(spec)  # every component checked before any work
    idx = np.arange(len(bundle.y)) if indices is None else np.asarray(indices, np.int64)
    stream = StreamData.from_pool(idx, bundle.y, bundle.n_classes)
    pool_sessions = getattr(bundle, "sessions", None)
    steps = [(stream_scenario("iid"), {})] + components
    for i, (scenario, params) in enumerate(steps):
        ctx = StreamContext(bundle.x, pool_sessions, np.random.default_rng([int(seed), 5, i]), bundle.name)
        stream = scenario.apply(stream, params, ctx)
    return stream


def describe_stream(spec: str, bundle, seed: int, indices: np.ndarray | None = None) -> dict:
    """``make_stream(...).describe()`` plus the spec and the seed."""
    return {"stream": spec, "dataset": bundle.name, "seed": int(seed), **make_stream(spec, bundle, seed, indices).describe()}
