"""The storage protocol's capacity mode (SPEC section 4; the rivals and own-policy issues): a
device store holds at most M = ``capacity`` x |D3| samples of the stream; every policy sees D3
one arrival at a time, and the model is retrained from the same initial weights on D1 plus the
store for a fixed number of optimisation steps (what the configured epochs take on D1 plus a
full store), so a policy that keeps fewer samples does not also train for less.

Policies (``capacity_policies()``), each named by a method string ``name[:key=value,...]``:

- the protocol's own: ``drip`` (only the points DRIP keeps are offered; when full, the lowest
  DRIP score is evicted, as the store's evict_lowest does), ``random`` (a uniform subset of D3 of
  DRIP's stored count), ``high_loss`` and ``high_entropy`` (evict_lowest on the factory model's
  loss / entropy);
- every registered store policy (``edgesieve.store.policies``) but evict_lowest, with its own
  parameters (``hus:threshold=0.9``, ``trust_balanced:within=random``). The label-using ones
  (reservoir, class_balanced, gdumb) take the stream's observed label (``class_source="label"``)
  or the factory model's predicted class (``"predicted"``); the label-free ones (pbrs, hus,
  hus_validated, cstu, trust_balanced) always see only the factory model's softmax on D3, and
  hus_validated chooses its threshold on D2 (validation), never on the test split.
  ``trust_balanced`` also takes ``trust=confidence|agreement`` (``edgesieve.store.trust``) and,
  with ``labelled_store=true``, is told each stored sample's observed label (the device labels
  what it keeps)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from edgesieve.experiments.protocol import RunContext, _make_selector, prepare_run
from edgesieve.experiments.statistics import adjusted_rand_index
from edgesieve.store.policies import create_policy, fill_store, list_policies, parse_policy_spec, policy_class
from edgesieve.store.trust import TRUST_SOURCES, class_prototypes, prototype_agreement, trust_scores
from edgesieve.titan.features import last_linear, logits_and_features

PROTOCOL_POLICIES = ("drip", "random", "high_loss", "high_entropy")
CLASS_SOURCES = ("label", "predicted")
#: method parameters the capacity mode reads itself (how a policy's scores are made), per policy
MODE_PARAMS = {"trust_balanced": {"trust": TRUST_SOURCES}}
#: ``trust`` when a method does not say (committed cells were computed with it: see tests/store/test_policy_defaults.py)
DEFAULT_TRUST = "confidence"


def capacity_policies() -> tuple[str, ...]:
    """Every policy the capacity mode can run, by name.

    >>> {"drip", "reservoir", "pbrs", "trust_balanced"} <= set(capacity_policies())
    True
    """
    return PROTOCOL_POLICIES + tuple(p for p in list_policies() if p != "evict_lowest")


def parse_policy(method: str) -> tuple[str, dict]:
    """``"name:key=value,..."`` as ``(name, params)``; values are JSON where they parse
    (numbers, true / false), strings otherwise. Checked against the policy, so a bad method
    fails before anything runs.

    >>> parse_policy("trust_balanced:within=random,labelled_store=true")
    ('trust_balanced', {'within': 'random', 'labelled_store': True})
    >>> parse_policy("hus:threshold=2")
    Traceback (most recent call last):
    ValueError: hus: threshold must be a confidence in (0, 1), got 2
    """
    name, params = parse_policy_spec(method)
    if name not in capacity_policies():
        raise ValueError(f"unknown capacity policy {name!r}; available: {', '.join(capacity_policies())}")
    if params and name in PROTOCOL_POLICIES:
        raise ValueError(f"{name} takes no parameters, got {sorted(params)}")
    mode = {k: params.pop(k) for k in list(params) if k in MODE_PARAMS.get(name, {})}
    for key, value in mode.items():
        if value not in MODE_PARAMS[name][key]:
            raise ValueError(f"{name}: {key} must be one of {MODE_PARAMS[name][key]}, got {value!r}")
    if name not in PROTOCOL_POLICIES:
        create_policy(name, 2, 0, **params).start(2)  # the policy's own checks, before any run
    return name, {**params, **mode}


class FactoryOutputs:
    """The factory (baseline) model's logits and penultimate features on D1, D2 and D3, each
    computed once, on first use, and shared by every policy of the run."""

    def __init__(self, model: nn.Module, splits: dict, chunk: int = 1024):
        self.model, self.splits, self.chunk = model, splits, chunk
        self.head = last_linear(model)
        self._cache: dict = {}

    def __call__(self, split: str) -> tuple[torch.Tensor, np.ndarray]:
        if split not in self._cache:
            x = self.splits[split]
            parts = [logits_and_features(self.model, x[i : i + self.chunk], self.head)
                     for i in range(0, len(x), self.chunk)]
            self._cache[split] = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]).numpy())
        return self._cache[split]

    def probs(self, split: str) -> np.ndarray:
        return self(split)[0].softmax(1).double().numpy()


def stored_positions(method: str, capacity: int, r, outputs: FactoryOutputs, ctx: RunContext,
                     classes: np.ndarray, drip_count: int | None) -> np.ndarray:
    """Stream positions the policy named by ``method`` holds at the end of D3."""
    name, params = parse_policy(method)
    n3, seed, n_classes = len(r.y3), r.seed, ctx.bundle.n_classes
    if name == "random":
        return np.sort(np.random.default_rng([seed, 17]).permutation(n3)[:drip_count])
    if name in ("high_loss", "high_entropy"):
        logits = outputs("d3")[0]
        if name == "high_loss":
            scores = nn.functional.cross_entropy(logits, r.y3, reduction="none")
        else:
            p = logits.softmax(1)
            scores = -(p * p.clamp_min(1e-12).log()).sum(1)
        return fill_store("evict_lowest", capacity, scores=scores.numpy(), seed=seed)
    cls = policy_class(name)
    if not cls.label_free:
        return fill_store(name, capacity, labels=classes, n_classes=n_classes, seed=seed, params=params)
    probs = outputs.probs("d3")
    scores = None
    if name in MODE_PARAMS:  # the caller's trust score
        trust = params.pop("trust", DEFAULT_TRUST)
        agreement = None
        if trust == "agreement":
            prototypes = class_prototypes(outputs("d1")[1], r.y1.numpy(), n_classes)
            agreement = prototype_agreement(outputs("d3")[1], probs.argmax(1), prototypes)
        scores = trust_scores(probs, trust, agreement)
    store_labels = r.y3.numpy() if params.get("labelled_store") else None
    return fill_store(name, capacity, scores=scores, probs=probs, n_classes=n_classes, seed=seed, params=params,
                      validation=(outputs.probs("d2"), r.y[r.d2].numpy()), store_labels=store_labels)


def run_capacity_once(ctx: RunContext, run: int, capacity: float, policies=("drip", "random", "reservoir"),
                      class_source: str = "label") -> dict:
    """One reshuffle in the capacity mode; returns ``{method: metrics}`` plus ``sizes``."""
    if not 0 < capacity < 1:
        raise ValueError(f"capacity must be a fraction of the stream in (0, 1), got {capacity}")
    if class_source not in CLASS_SOURCES:
        raise ValueError(f"class_source must be one of {CLASS_SOURCES}, got {class_source!r}")
    for method in policies:
        parse_policy(method)
    cfg, bundle = ctx.cfg, ctx.bundle
    r = prepare_run(ctx, run)
    n3 = len(r.y3)
    m = max(1, int(round(capacity * n3)))
    steps = cfg.epochs * math.ceil((len(r.d1) + m) / cfg.batch_size)
    baseline = ctx.fit_baseline(r)
    outputs = FactoryOutputs(baseline, {"d1": r.x1, "d2": ctx.x[r.d2], "d3": r.x3})
    predicted = outputs("d3")[0].argmax(1).numpy()
    classes = r.y3.numpy() if class_source == "label" else predicted
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
                     "class_source": class_source,
                     # how well the label-free policies' grouping (the predicted class) recovers the true classes
                     "predicted_class_ari": adjusted_rand_index(predicted, r.clean3),
                     "factory_accuracy_on_stream": float((predicted == r.clean3).mean())}}
    wrong = r.y3.numpy() != r.clean3
    for method in policies:
        pos = drip_stored if method == "drip" else stored_positions(
            method, m, r, outputs, ctx, classes, None if drip_stored is None else len(drip_stored))
        model = ctx.fit(torch.cat([r.x1, r.x3[pos]]), torch.cat([r.y1, r.y3[pos]]), r.seed, f"capacity {method}", steps=steps)
        counts = np.bincount(r.clean3[pos], minlength=bundle.n_classes)
        scores = ctx.evaluate(model)
        out[method] = {"test_accuracy": scores["acc"], "macro_f1": scores["f1"],
                       "stored": int(len(pos)), "fewest_of_a_class": int(counts.min()),
                       "class_counts": counts.tolist(), "noisy_label_share_stored": float(wrong[pos].mean()) if len(pos) else 0.0}
    return out
