"""``label-noise:rate=P,kind=symmetric|pairflip``: exactly round(P n) arrivals, chosen
uniformly, get a wrong observed label (SPEC section 5): ``symmetric`` a uniformly chosen other
class, ``pairflip`` the next class (c -> c + 1 mod C). The fraction of wrong labels is P. The
clean label stays in ``y_clean``, for analysis only."""

from dataclasses import replace


from edgesieve.streams.registry import Param, StreamScenario, fraction_below_one, one_of, register_stream


def _apply(stream, params, ctx):
    rng, n, c = ctx.rng, len(stream), stream.n_classes
    flip = rng.choice(n, size=int(round(params["rate"] * n)), replace=False)
    y = stream.y.copy()
    step = 1 if params["kind"] == "pairflip" else rng.integers(1, c, size=flip.size)
    y[flip] = (stream.y_clean[flip] + step) % c
    return replace(stream, y=y)


register_stream(StreamScenario(
    "label-noise", "a fraction rate of observed labels is wrong (symmetric: another class; pairflip: the next class)",
    {"rate": Param(float, None, fraction_below_one, "fraction of wrong labels"),
     "kind": Param(str, "symmetric", one_of("symmetric", "pairflip"), "symmetric or pairflip")},
    apply=_apply))
