"""``dirichlet:alpha=A,sessions=K``: K consecutive sessions of n/K arrivals (SPEC section 5);
session k's class proportions p_k ~ Dir(A * 1_C), its arrivals drawn from the pool without
replacement by p_k; when a class runs out, the rest of the session comes from the classes that
still have samples, in proportion to p_k (uniformly when p_k puts no mass on any of them).
Within a session the order is random. Session ids are 0..K-1."""

from dataclasses import replace

import numpy as np

from edgesieve.streams.registry import Param, StreamScenario, positive, register_stream


def _session_counts(p: np.ndarray, size: int, left: np.ndarray, rng) -> np.ndarray:
    """How many arrivals of each class one session takes: multinomial by p, capped by what is
    left, the shortfall re-drawn over the classes that still have samples."""
    take = np.zeros_like(left)
    while size > 0 and left.sum() > take.sum():
        room = left - take
        w = np.where(room > 0, p, 0.0)
        w = w / w.sum() if w.sum() > 0 else (room > 0) / np.count_nonzero(room)
        draw = np.minimum(rng.multinomial(size, w), room)
        take += draw
        size -= int(draw.sum())
    return take


def _apply(stream, params, ctx):
    k, c, n = params["sessions"], stream.n_classes, len(stream)
    rng = ctx.rng
    members = [list(np.flatnonzero(stream.y_clean == cls)) for cls in range(c)]  # in current (shuffled) order
    left = np.array([len(m) for m in members])
    used = np.zeros(c, np.int64)
    sizes = np.full(k, n // k) + (np.arange(k) < n % k)
    positions, session_of = [], []
    for s in range(k):  # K is small (sessions, not samples)
        counts = _session_counts(rng.dirichlet(np.full(c, params["alpha"])), int(sizes[s]), left, rng)
        chosen = np.concatenate([np.asarray(members[cls][used[cls]: used[cls] + counts[cls]], np.int64) for cls in range(c)])
        used += counts
        left -= counts
        positions.append(rng.permutation(chosen))
        session_of.append(np.full(len(chosen), s))
    out = stream.take(np.concatenate(positions))
    return replace(out, sessions=np.concatenate(session_of).astype(np.int64))


register_stream(StreamScenario(
    "dirichlet", "sessions of equal length, each with class proportions drawn from Dir(alpha), one after another",
    {"alpha": Param(float, None, positive, "Dirichlet concentration; small = few classes per session"),
     "sessions": Param(int, 10, lambda v: None if v >= 1 else "must be >= 1", "number of sessions")},
    apply=_apply))
