"""``imbalanced:ratio=R``: long-tailed class frequencies (SPEC section 5). Class k, in a seeded
random order of the classes, keeps n_max * R^(-k/(C-1)) of its arrivals, the first ones in the
current order; the least frequent class keeps L = floor(a / R) (a: the arrivals the limiting
class has) and n_max = L * R, so the observed most / least ratio is R exactly. The stream gets
shorter; the order of what is kept is unchanged."""

import numpy as np

from edgesieve.streams.registry import Param, StreamScenario, StreamSpecError, register_stream


def _apply(stream, params, ctx):
    ratio, c = params["ratio"], stream.n_classes
    available = np.bincount(stream.y_clean, minlength=c)
    order = ctx.rng.permutation(c)  # order[k] is the class of rank k (most frequent first)
    profile = ratio ** (-np.arange(c) / max(c - 1, 1))
    least = int(np.floor(np.min(available[order] / profile) / ratio + 1e-9))
    if least < 1:
        raise StreamSpecError(f"stream scenario 'imbalanced': ratio={ratio:g} needs at least {ratio:g} arrivals of "
                              f"every class it ranks first; the pool has as few as {int(available.min())} of one class "
                              "(use a larger pool or a smaller ratio)")
    targets = np.empty(c, np.int64)
    targets[order] = np.maximum(1, np.round(least * ratio * profile)).astype(np.int64)
    targets[order[-1]] = least
    # rank of each arrival within its class, in stream order (vectorised: stable sort by class)
    by_class = np.argsort(stream.y_clean, kind="stable")
    starts = np.concatenate([[0], np.cumsum(available)[:-1]])
    rank = np.empty(len(stream), np.int64)
    rank[by_class] = np.arange(len(stream)) - starts[stream.y_clean[by_class]]
    return stream.take(np.flatnonzero(rank < targets[stream.y_clean]))


register_stream(StreamScenario(
    "imbalanced", "long-tailed class frequencies, exponential profile: most / least frequent class = ratio",
    {"ratio": Param(float, None, lambda v: None if v >= 1 else "must be >= 1", "most / least frequent class")},
    apply=_apply))
