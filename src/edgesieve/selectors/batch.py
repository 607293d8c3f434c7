"""Per-round batch selectors: Titan (coarse filter + C-IS) and its rivals behind the shared
selector protocol (SPEC section 2).

``decide(x, y)`` takes one round of streaming samples and keeps exactly ``min(batch, n)`` of
them: the samples of this round's training step. A coarse stage (Titan's filter, DRIP, or
none) first narrows the round to a candidate buffer of ``buffer`` samples; the method's fine
stage picks the batch from the candidates. Without labels (``y=None``) the model's predictions
stand in for them (SPEC's decision). The buffer is refilled every round: candidates of earlier
rounds were scored by an older model.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import torch

from edgesieve.selectors.base import REASON_CODES, Decision, Selector
from edgesieve.selectors.drip import DripSelector
from edgesieve.selectors.registry import register_selector
from edgesieve.state.files import StateFileError, decode_tensor, encode_tensor, model_fingerprint
from edgesieve.titan.coarse import CLASS_SLOTS, DIVERSITY_MODES, CoarseFilter
from edgesieve.titan.features import ShallowFeatures, first_activation, last_linear
from edgesieve.titan.fine import logits_and_features, select_batch
from edgesieve.validation import as_batch, as_labels

COARSE_STAGES = ("titan", "drip", "none")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class BatchSelector(Selector):
    """Base of the per-round batch selectors; subclasses set ``fine_method`` (a key of
    ``edgesieve.titan.BATCH_SELECTORS``) and ``default_coarse``.

    Parameters
    ----------
    model : the classifier being trained (logits out, a final ``nn.Linear``).
    batch : samples kept per round (|B|).
    buffer : candidate buffer capacity of the coarse stage; at least ``batch``.
    coarse : ``"titan"`` (shallow-feature filter), ``"drip"`` (DRIP windows: points farthest
        outside their class's window first), ``"none"`` (every sample of the round is a
        candidate), or None for the method's own (Titan: "titan"; the rivals: "none").
    feature_layer : module name whose output is the shallow feature (None: the first activation).
    lambda_rep, lambda_div, diversity, chunk, class_slots : the coarse stage, see :class:`CoarseFilter`.
    drip_dpw : DRIP's window when ``coarse="drip"``.
    seed : seed of the selector's own random generator (saved and restored with its state).
    """

    requires_model = True
    fine_method: ClassVar[str] = "rs"
    default_coarse: ClassVar[str] = "none"

    def __init__(self, model, batch: int = 10, buffer: int = 30, *, coarse: str | None = None,
                 feature_layer: str | None = None, lambda_rep: float = 1.0, lambda_div: float = 1.0,
                 diversity: str = "mean", chunk: int = 10, class_slots: str = "proportional", drip_dpw: float = 0.25,
                 seed: int = 0):
        self.model = model
        self.batch = batch
        self.buffer = buffer
        self.coarse = coarse
        self.feature_layer = feature_layer
        self.lambda_rep = lambda_rep
        self.lambda_div = lambda_div
        self.diversity = diversity
        self.chunk = chunk
        self.class_slots = class_slots
        self.drip_dpw = drip_dpw
        self.seed = seed

    # -- calibration ----------------------------------------------------------------------------

    def _check_params(self) -> str:
        _positive_int(self.batch, "batch")
        _positive_int(self.buffer, "buffer")
        _positive_int(self.chunk, "chunk")
        coarse = self.default_coarse if self.coarse is None else self.coarse
        if coarse not in COARSE_STAGES:
            raise ValueError(f"coarse must be one of {COARSE_STAGES} or None, got {coarse!r}")
        if coarse != "none" and self.buffer < self.batch:
            raise ValueError(f"the buffer ({self.buffer}) must hold at least one batch ({self.batch})")
        if self.diversity not in DIVERSITY_MODES:
            raise ValueError(f"diversity must be one of {DIVERSITY_MODES}, got {self.diversity!r}")
        if self.class_slots not in CLASS_SLOTS:
            raise ValueError(f"class_slots must be one of {CLASS_SLOTS}, got {self.class_slots!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        return coarse

    def calibrate(self, x, y=None) -> "BatchSelector":
        """Check the parameters, seed the generator and, for a coarse stage, warm-start it on
        labelled data (Titan: the class estimators; DRIP: its windows). Returns self."""
        coarse = self._check_params()
        x = as_batch(x)
        head = last_linear(self.model)
        y = self._labels(x, y, head.out_features)
        self.n_classes_ = head.out_features
        self.sample_shape_ = tuple(x.shape[1:])
        self.coarse_stage_ = coarse
        self.rng_ = torch.Generator().manual_seed(self.seed)
        self.stage_ms_ = {"coarse": 0.0, "fine": 0.0}
        self.model_fingerprint_ = model_fingerprint(self.model)
        self._build_coarse()
        if coarse == "titan":
            self.filter_.warm_start(x, y)
        elif coarse == "drip":
            self.drip_.calibrate(x, y)
        return self

    def _build_coarse(self) -> None:
        if self.coarse_stage_ == "titan":
            layer = self.feature_layer or first_activation(self.model)
            self.filter_ = CoarseFilter(ShallowFeatures(self.model, layer), self.n_classes_, self.buffer,
                                        lambda_rep=self.lambda_rep, lambda_div=self.lambda_div,
                                        diversity=self.diversity, chunk=self.chunk, class_slots=self.class_slots)
        elif self.coarse_stage_ == "drip":
            self.drip_ = DripSelector(self.model, dpw=self.drip_dpw, group_by="label")

    def recalibrate_coarse(self, x, y=None) -> None:
        """Re-fit DRIP's windows with the model as it is now (online training moves the scores);
        a no-op for the other coarse stages."""
        self._check_calibrated()
        if self.coarse_stage_ == "drip":
            x = as_batch(x, sample_shape=self.sample_shape_)
            self.drip_.calibrate(x, self._labels(x, y, self.n_classes_))

    def _labels(self, x: torch.Tensor, y, n_classes: int) -> torch.Tensor:
        if y is None:  # SPEC: without the stream's labels, the model's predictions
            logits, _ = logits_and_features(self.model, x, last_linear(self.model))
            return logits.argmax(dim=1)
        return as_labels(y, x.shape[0], n_classes=n_classes)

    # -- one round ------------------------------------------------------------------------------

    def decide(self, x, y=None) -> Decision:
        """Keep the round's training batch: ``keep`` marks min(batch, n) samples, ``weight``
        their importance weights (1 unless the method importance-samples), ``score`` the fine
        stage's score of each candidate (-inf where the coarse stage dropped the sample)."""
        self._check_calibrated()
        x = as_batch(x, sample_shape=self.sample_shape_)
        y = self._labels(x, y, self.n_classes_)
        n = x.shape[0]
        start = time.perf_counter()
        candidates = self._candidates(x, y)
        mid = time.perf_counter()
        head = last_linear(self.model)
        cx, cy = x[candidates], y[candidates]
        logits, features = logits_and_features(self.model, cx, head)
        picked = select_batch(self.fine_method, logits, features, cy, min(self.batch, candidates.numel()),
                              self.rng_, inputs=cx)
        chosen = candidates[picked.index]
        keep = torch.zeros(n, dtype=torch.bool)
        keep[chosen] = True
        score = torch.full((n,), float("-inf"))
        score[candidates] = picked.score
        predicted = torch.full((n,), -1, dtype=torch.long)
        predicted[candidates] = logits.argmax(dim=1)
        reason = torch.full((n,), REASON_CODES["coarse_filtered"], dtype=torch.int8)
        reason[candidates] = REASON_CODES["not_picked"]
        reason[chosen] = REASON_CODES["batch"]
        weight = torch.zeros(n)
        weight[chosen] = picked.weight
        self.stage_ms_["coarse"] = 1000 * (mid - start)
        self.stage_ms_["fine"] = 1000 * (time.perf_counter() - mid)
        return Decision(keep=keep, score=score, predicted=predicted, reason=reason, weight=weight)

    def _candidates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Positions in the round of the coarse stage's candidates."""
        if self.coarse_stage_ == "titan":
            self.filter_.offer(x, y)
            ids, _ = self.filter_.buffer.take()
            return ids
        if self.coarse_stage_ == "drip":
            scores = self.drip_.cam_.explain(x, return_heatmaps=False).scores.double()
            lower, upper = self.drip_.lower_[y], self.drip_.upper_[y]
            outside = torch.maximum(lower - scores, scores - upper)  # > 0 outside the window
            priority = outside / (upper - lower).clamp_min(1e-12)
            priority = torch.where(torch.isnan(lower), float("inf"), priority)  # no window: keep first
            return torch.topk(priority, min(self.buffer, x.shape[0])).indices
        return torch.arange(x.shape[0])

    # -- state ----------------------------------------------------------------------------------

    def _get_state(self) -> dict[str, Any]:
        state = {
            "n_classes": self.n_classes_,
            "sample_shape": list(self.sample_shape_),
            "coarse_stage": self.coarse_stage_,
            "rng": encode_tensor(self.rng_.get_state()),
        }
        if self.coarse_stage_ == "titan" and self.filter_.stats is not None:
            stats = self.filter_.stats
            state["class_stats"] = {"count": encode_tensor(stats.count), "mean": encode_tensor(stats.mean),
                                    "mean_sq_norm": encode_tensor(stats.mean_sq_norm)}
        if self.coarse_stage_ == "drip":
            state["drip"] = self.drip_._get_state()
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        coarse = self._check_params()
        if state["coarse_stage"] != coarse:
            raise StateFileError(f"the state is for coarse stage {state['coarse_stage']!r}, the parameters say {coarse!r}")
        self.n_classes_ = _positive_int(state["n_classes"], "n_classes")
        self.sample_shape_ = tuple(_positive_int(d, "sample_shape") for d in state["sample_shape"])
        self.coarse_stage_ = coarse
        self.rng_ = torch.Generator()
        self.rng_.set_state(decode_tensor(state["rng"], torch.uint8))
        self.stage_ms_ = {"coarse": 0.0, "fine": 0.0}
        self.model_fingerprint_ = model_fingerprint(self.model)
        self._build_coarse()
        if "class_stats" in state:
            s = state["class_stats"]
            mean = decode_tensor(s["mean"], torch.float32)
            if mean.dim() != 2 or mean.shape[0] != self.n_classes_:
                raise StateFileError(f"class means of shape {tuple(mean.shape)} do not fit {self.n_classes_} classes")
            self.filter_._ensure_state(mean.shape[1])
            self.filter_.stats.mean = mean
            self.filter_.stats.count = decode_tensor(s["count"], torch.float64)
            self.filter_.stats.mean_sq_norm = decode_tensor(s["mean_sq_norm"], torch.float64)
        if coarse == "drip":
            self.drip_._set_state(state["drip"])


@register_selector("titan")
class TitanSelector(BatchSelector):
    """Titan: the coarse filter fills a buffer; C-IS (class budgets from |S_y| sqrt(V[grad] -
    V[||grad||]), sampling by last-layer gradient norm) picks the batch.

    >>> from edgesieve.models import MnistCNN
    >>> torch.manual_seed(0) and None
    >>> model = MnistCNN()
    >>> sel = TitanSelector(model, batch=10, buffer=30).calibrate(torch.rand(50, 1, 28, 28), torch.arange(50) % 10)
    >>> d = sel.decide(torch.rand(100, 1, 28, 28), torch.arange(100) % 10)
    >>> int(d.keep.sum()), d.reasons().count("not_picked"), d.reasons().count("coarse_filtered")
    (10, 20, 70)
    """

    fine_method = "titan"
    default_coarse = "titan"


@register_selector("rs")
class RandomBatchSelector(BatchSelector):
    """RS: a uniformly random batch of the round."""

    fine_method = "rs"


@register_selector("is")
class ImportanceSamplingSelector(BatchSelector):
    """IS: sampling proportional to the last-layer gradient norm, no class structure."""

    fine_method = "is"


@register_selector("hl")
class HighLossSelector(BatchSelector):
    """HL: the highest cross-entropy losses of the round."""

    fine_method = "hl"


@register_selector("ll")
class LowLossSelector(BatchSelector):
    """LL: the lowest cross-entropy losses of the round."""

    fine_method = "ll"


@register_selector("ce")
class EntropySelector(BatchSelector):
    """CE: the highest entropy of the predicted distribution."""

    fine_method = "ce"


@register_selector("ocs")
class OnlineCoresetSelector(BatchSelector):
    """OCS: gradient similarity to the round's mean gradient plus diversity, class quotas."""

    fine_method = "ocs"


@register_selector("camel")
class CamelSelector(BatchSelector):
    """Camel: greedy k-center coreset in input space, class quotas."""

    fine_method = "camel"

