"""``sessions``: the data's own sessions, one after another (FSDD: speaker; HAR: recording, one
subject each), in a seeded order of the sessions, arrivals in random order within a session.
A data set without sessions is refused."""

from dataclasses import replace

import numpy as np

from edgesieve.streams.registry import StreamScenario, StreamSpecError, register_stream


def _apply(stream, params, ctx):
    if ctx.pool_sessions is None:
        raise StreamSpecError(f"stream scenario 'sessions': data set {ctx.dataset!r} has no sessions "
                              "(data sets with sessions: see `edgesieve data list`)")
    ids = ctx.pool_sessions[stream.source]
    session_order = ctx.rng.permutation(np.unique(ids))
    rank = np.empty(int(ids.max()) + 1, np.int64)
    rank[session_order] = np.arange(len(session_order))
    jitter = ctx.rng.permutation(len(stream))  # random order within a session
    order = np.lexsort((jitter, rank[ids]))
    return replace(stream.take(order), sessions=rank[ids[order]])


register_stream(StreamScenario(
    "sessions", "the data's own sessions in order (FSDD: speaker; HAR: recording); needs a data set with sessions",
    apply=_apply))
