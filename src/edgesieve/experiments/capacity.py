"""The storage protocol's capacity mode (SPEC section 4; the rivals issue): a device store holds
at most M = ``capacity`` x |D3| samples of the stream; every policy sees D3 one arrival at a
time, and the model is retrained from the same initial weights on D1 plus the store for a fixed
number of optimisation steps (what the configured epochs take on D1 plus a full store), so a
policy that keeps fewer samples does not also train for less.

Policies (``CAPACITY_POLICIES``): ``drip`` (only the points DRIP keeps are offered; when full,
the lowest DRIP score is evicted, as the store's evict_lowest does), ``random`` (a uniform subset
of D3 of DRIP's stored count), ``reservoir``, ``class_balanced`` (CBRS), ``gdumb``,
``high_loss`` and ``high_entropy`` (evict_lowest on the factory model's loss / entropy). The
class-aware policies use the stream's observed label (``class_source="label"``) or the factory
model's predicted class (``"predicted"``); the record says which."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from edgesieve.experiments.protocol import RunContext, _make_selector, prepare_run
from edgesieve.store.policies import fill_store

CAPACITY_POLICIES = ("drip", "random", "reservoir", "class_balanced", "gdumb", "high_loss", "high_entropy")
CLASS_SOURCES = ("label", "predicted")


def _logits(model: nn.Module, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def stored_positions(policy: str, capacity: int, r, logits, ctx: RunContext, classes: np.ndarray,
                     drip_count: int | None) -> np.ndarray:
    """Stream positions the policy holds at the end of D3; ``logits()`` gives the factory model's
    logits on D3 (computed once, on first use)."""
    n3, seed = len(r.y3), r.seed
    if policy in ("reservoir", "class_balanced", "gdumb"):
        return fill_store(policy, capacity, labels=classes, n_classes=ctx.bundle.n_classes, seed=seed)
    if policy == "random":
        return np.sort(np.random.default_rng([seed, 17]).permutation(n3)[:drip_count])
    if policy in ("high_loss", "high_entropy"):
        if policy == "high_loss":
            scores = nn.functional.cross_entropy(logits(), r.y3, reduction="none")
        else:
            p = logits().softmax(1)
            scores = -(p * p.clamp_min(1e-12).log()).sum(1)
        return fill_store("evict_lowest", capacity, scores=scores.numpy(), seed=seed)
    raise ValueError(f"unknown capacity policy {policy!r}; available: {', '.join(CAPACITY_POLICIES)}")


def run_capacity_once(ctx: RunContext, run: int, capacity: float, policies=CAPACITY_POLICIES,
                      class_source: str = "label") -> dict:
    """One reshuffle in the capacity mode; returns ``{policy: metrics}`` plus ``sizes``."""
    if not 0 < capacity < 1:
        raise ValueError(f"capacity must be a fraction of the stream in (0, 1), got {capacity}")
    if class_source not in CLASS_SOURCES:
        raise ValueError(f"class_source must be one of {CLASS_SOURCES}, got {class_source!r}")
    unknown = [p for p in policies if p not in CAPACITY_POLICIES]
    if unknown:
        raise ValueError(f"unknown capacity policies {unknown}; available: {', '.join(CAPACITY_POLICIES)}")
    cfg, bundle = ctx.cfg, ctx.bundle
    r = prepare_run(ctx, run)
    n3 = len(r.y3)
    m = max(1, int(round(capacity * n3)))
    steps = cfg.epochs * math.ceil((len(r.d1) + m) / cfg.batch_size)
    baseline = ctx.fit(r.x1, r.y1, r.seed, "baseline")
    cache: dict = {}

    def logits() -> torch.Tensor:  # one forward pass over D3, shared by every policy that needs it
        if "d3" not in cache:
            cache["d3"] = _logits(baseline, r.x3)
        return cache["d3"]

    classes = r.y3.numpy() if class_source == "label" else logits().argmax(1).numpy()
    drip_stored = None
    if "drip" in policies or "random" in policies:
        selector = _make_selector(cfg, baseline, cfg.dpws[0], r.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            selector.calibrate(ctx.x[r.d2], r.y[r.d2])
        d = selector.decide(r.x3)
        kept = np.flatnonzero(d.keep.numpy())
        drip_stored = kept[fill_store("evict_lowest", m, scores=d.score.numpy()[kept])] if len(kept) else kept
    out = {"sizes": {"d1": len(r.d1), "d2": len(r.d2), "d3": n3, "capacity": m, "steps": steps,
                     "class_source": class_source}}
    wrong = r.y3.numpy() != r.clean3
    for policy in policies:
        pos = drip_stored if policy == "drip" else stored_positions(
            policy, m, r, logits, ctx, classes, None if drip_stored is None else len(drip_stored))
        model = ctx.fit(torch.cat([r.x1, r.x3[pos]]), torch.cat([r.y1, r.y3[pos]]), r.seed, f"capacity {policy}", steps=steps)
        counts = np.bincount(r.clean3[pos], minlength=bundle.n_classes)
        scores = ctx.evaluate(model)
        out[policy] = {"test_accuracy": scores["acc"], "macro_f1": scores["f1"],
                       "stored": int(len(pos)), "fewest_of_a_class": int(counts.min()),
                       "class_counts": counts.tolist(), "noisy_label_share_stored": float(wrong[pos].mean()) if len(pos) else 0.0}
    return out
