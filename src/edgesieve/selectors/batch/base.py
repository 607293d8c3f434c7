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

import inspect
import time
from typing import Any, ClassVar

import torch

from edgesieve.selectors.base import REASON_CODES, Decision, Selector
from edgesieve.selectors.batch.coarse import COARSE_STAGES
from edgesieve.selectors.batch.picked import Picked
from edgesieve.selectors.registry import list_selectors, selector_class
from edgesieve.state.files import (
    StateFileError,
    decode_tensor,
    encode_tensor,
    model_fingerprint,
)
from edgesieve.titan.coarse import CLASS_SLOTS, DIVERSITY_MODES
from edgesieve.titan.features import last_linear, logits_and_features
from edgesieve.validation import as_batch, as_labels


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class BatchSelector(Selector):
    """Base of the per-round batch selectors. A batch method is one subclass, registered with
    ``@register_selector(name)``, that defines its fine stage as the static method ``pick``
    (logits, last-layer features, labels, k, generator, inputs) -> :class:`Picked` and may set
    ``default_coarse``; see ``edgesieve.selectors.batch.high_loss`` for a whole one.

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
    reuse_features : Titan's coarse stage hands the fine stage its candidates' shallow features,
        and the fine forward resumes from them (the model's graph cut after ``feature_layer`` with
        torch.fx) rather than running the first block again; where the cut is not clean (see
        :class:`edgesieve.titan.features.ForwardFromLayer`) the fine stage runs the whole forward.
    coarse_pool : Titan's coarse stage averages its shallow features over ``coarse_pool`` x
        ``coarse_pool`` positions first (1: the full features; 4 makes the MNIST CNN's 12,544 values
        784, and the coarse distances about as much cheaper; benchmarks/bench_coarse_pool.py measures
        the coarse ranking it keeps).
    """

    requires_model = True
    default_coarse: ClassVar[str] = "none"
    #: the method's weights are part of the method (InfoBatch's rescaling): training applies them
    #: even when the protocol does not ask for importance weights
    always_weighted: ClassVar[bool] = False
    #: the fine stage needs the calibrated selector (RHO-LOSS's irreducible-loss model): no pick by name
    pick_needs_state: ClassVar[bool] = False
    #: the fine stage reads the model's logits and features; a method that does not (RS) skips
    #: the forward pass over the round where no coarse stage needs one, as a device would: its
    #: decisions then carry predicted = -1 (the model-free convention) and score 0
    needs_model_outputs: ClassVar[bool] = True
    #: a method's own parameters and their defaults (rank-loss: pressure), taken as keywords by
    #: ``__init__`` after the shared ones and listed by ``get_params`` like them
    extra_params: ClassVar[dict[str, Any]] = {}

    @classmethod
    def _param_names(cls) -> list[str]:
        shared = [p for p in inspect.signature(BatchSelector.__init__).parameters if p not in ("self", "extra")]
        return shared + list(cls.extra_params)

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None) -> Picked:
        raise NotImplementedError("a batch method defines its fine stage as the static method pick")

    def __init__(self, model, batch: int = 10, buffer: int = 30, *, coarse: str | None = None,
                 feature_layer: str | None = None, lambda_rep: float = 1.0, lambda_div: float = 1.0,
                 diversity: str = "mean", chunk: int = 10, class_slots: str = "proportional", drip_dpw: float = 0.25,
                 seed: int = 0, coarse_pool: int = 1, reuse_features: bool = True, **extra):
        unknown = sorted(set(extra) - set(self.extra_params))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected parameters {unknown}; "
                            f"its own: {', '.join(self.extra_params) or 'none'}")
        for name, default in self.extra_params.items():
            setattr(self, name, extra.get(name, default))
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
        self.coarse_pool = coarse_pool
        self.reuse_features = reuse_features

    # -- calibration ----------------------------------------------------------------------------

    def _check_params(self) -> str:
        _positive_int(self.batch, "batch")
        _positive_int(self.buffer, "buffer")
        _positive_int(self.chunk, "chunk")
        _positive_int(self.coarse_pool, "coarse_pool")
        if not isinstance(self.reuse_features, bool):
            raise ValueError(f"reuse_features must be True or False, got {self.reuse_features!r}")
        coarse = self.default_coarse if self.coarse is None else self.coarse
        if coarse not in COARSE_STAGES:
            raise ValueError(f"coarse must be one of {tuple(COARSE_STAGES)} or None, got {coarse!r}")
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
        self.coarse_ = COARSE_STAGES[coarse](self)
        self.coarse_.calibrate(x, y)
        return self

    def recalibrate_coarse(self, x, y=None) -> None:
        """Re-fit the coarse stage with the model as it is now (DRIP's windows: online training
        moves the scores); a no-op for stages that need none (``coarse_.needs_recalibration``)."""
        self._check_calibrated()
        if self.coarse_.needs_recalibration:
            x = as_batch(x, sample_shape=self.sample_shape_)
            self.coarse_.recalibrate(x, self._labels(x, y, self.n_classes_))

    def _labels(self, x: torch.Tensor, y, n_classes: int) -> torch.Tensor:
        if y is None:  # SPEC: without the stream's labels, the model's predictions
            logits, _ = logits_and_features(self.model, x, last_linear(self.model))
            return logits.argmax(dim=1)
        return as_labels(y, x.shape[0], n_classes=n_classes).cpu()  # selection runs on the CPU

    # -- one round ------------------------------------------------------------------------------

    def decide(self, x, y=None) -> Decision:
        """Keep the round's training batch: ``keep`` marks min(batch, n) samples, ``weight``
        their importance weights (1 unless the method importance-samples), ``score`` the fine
        stage's score of each candidate (-inf where the coarse stage dropped the sample)."""
        self._check_calibrated()
        x = as_batch(x, sample_shape=self.sample_shape_)
        if self.coarse_stage_ == "none" and not self._needs_model_outputs(y):
            return self._decide_model_free(x, y)
        y = self._labels(x, y, self.n_classes_)
        n = x.shape[0]
        start = time.perf_counter()
        candidates = self.coarse_.candidates(x, y)
        mid = time.perf_counter()
        head = last_linear(self.model)
        cx, cy = x[candidates], y[candidates]
        logits, features = self.coarse_.candidate_outputs(cx, head)
        picked = self._fine(logits, features, cy, min(self.batch, candidates.numel()), cx)
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

    def _needs_model_outputs(self, y) -> bool:
        """Whether this round's fine stage reads the model (a method that needs only the labels
        says so when they are given)."""
        return self.needs_model_outputs

    def _decide_model_free(self, x: torch.Tensor, y) -> Decision:
        """A round without the model: every sample is a candidate, the method picks from the
        labels alone (or their count), nothing is predicted."""
        n = x.shape[0]
        start = time.perf_counter()
        labels = torch.full((n,), -1, dtype=torch.long) if y is None else as_labels(y, n, n_classes=self.n_classes_).cpu()
        k = min(self.batch, n)
        if k < 1:
            raise ValueError(f"batch size must be positive, got {k}")
        picked = type(self).pick(None, None, labels, k, self.rng_, inputs=x)
        keep = torch.zeros(n, dtype=torch.bool)
        keep[picked.index] = True
        reason = torch.full((n,), REASON_CODES["not_picked"], dtype=torch.int8)
        reason[picked.index] = REASON_CODES["batch"]
        weight = torch.zeros(n)
        weight[picked.index] = picked.weight
        self.stage_ms_["coarse"] = 0.0
        self.stage_ms_["fine"] = 1000 * (time.perf_counter() - start)
        return Decision(keep=keep, score=torch.zeros(n), predicted=torch.full((n,), -1, dtype=torch.long),
                        reason=reason, weight=weight)

    def _fine(self, logits, features, labels, k: int, inputs) -> Picked:
        """The fine stage of one round. Stateless methods are their static ``pick``; a method
        with parameters or state (rank-loss, InfoBatch, RHO-LOSS) overrides this, after
        :func:`check_buffer`."""
        return checked_pick(type(self), logits, features, labels, k, self.rng_, inputs=inputs)

    # -- state ----------------------------------------------------------------------------------

    def _get_state(self) -> dict[str, Any]:
        state = {
            "n_classes": self.n_classes_,
            "sample_shape": list(self.sample_shape_),
            "coarse_stage": self.coarse_stage_,
            "rng": encode_tensor(self.rng_.get_state()),
        }
        return {**state, **self.coarse_.get_state()}

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
        self.coarse_ = COARSE_STAGES[coarse](self)
        self.coarse_.set_state(state)


def list_batch_methods() -> list[str]:
    """Names of the registered batch (online) methods, sorted.

    >>> {"titan", "rs", "is", "hl", "ll", "ce", "ocs", "camel"} <= set(list_batch_methods())
    True
    """
    return [n for n in list_selectors() if issubclass(selector_class(n), BatchSelector)]


def select_batch(method: str, logits, features, labels, k: int, generator=None, inputs=None) -> Picked:
    """A registered batch method's fine stage on a buffer, by name, with the checks every method shares."""
    if method not in list_batch_methods():
        raise ValueError(f"unknown batch selector {method!r}; available: {', '.join(list_batch_methods())}")
    return checked_pick(selector_class(method), logits, features, labels, k, generator, inputs)


def checked_pick(cls, logits, features, labels, k: int, generator=None, inputs=None) -> Picked:
    """``cls.pick`` after the checks every method shares (no registry lookup: the per-round path)."""
    check_buffer(logits, features, labels, k)
    return cls.pick(logits, features, labels, k, generator, inputs)


def check_buffer(logits, features, labels, k: int) -> None:
    """The checks every fine stage shares: a positive batch, enough candidates, finite values."""
    n = labels.numel()
    if k < 1:
        raise ValueError(f"batch size must be positive, got {k}")
    if n < k:
        raise ValueError(f"the buffer holds {n} candidates, fewer than the batch size {k}")
    if not (bool(torch.isfinite(logits).all()) and bool(torch.isfinite(features).all())):
        raise ValueError("logits or features hold NaN or Inf")
