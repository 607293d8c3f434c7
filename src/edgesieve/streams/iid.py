"""``iid``: the pool shuffled with the seed (the papers' setting)."""

from edgesieve.streams.registry import StreamScenario, register_stream


def _apply(stream, params, ctx):
    return stream.take(ctx.rng.permutation(len(stream)))


register_stream(StreamScenario("iid", "the data set's stream pool shuffled with the seed (the papers' setting)", apply=_apply))
