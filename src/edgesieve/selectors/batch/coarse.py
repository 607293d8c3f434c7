"""Coarse stages: what narrows a round to the candidate buffer before a batch method's fine
stage picks. Strategy objects behind one small interface, registered by name; a batch selector
holds one (``coarse_``). A new stage is one class with ``@register_coarse_stage``.

Interface: ``calibrate(x, y)`` once; ``candidates(x, y)`` per round (positions in the round);
``candidate_outputs(x, head)`` the candidates' logits and last-layer features for the fine
stage (a stage that already ran part of the forward resumes from there); ``recalibrate(x, y)``
when the model has moved (``needs_recalibration`` says whether it does anything);
``get_state()`` / ``set_state(state)`` for the selector's JSON state file.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch

from edgesieve.selectors.drip import DripSelector
from edgesieve.state.files import StateFileError, decode_tensor, encode_tensor
from edgesieve.titan.coarse import CoarseFilter
from edgesieve.titan.features import ForwardFromLayer, ShallowFeatures, first_activation, last_linear, logits_and_features

COARSE_STAGES: dict[str, type] = {}


def register_coarse_stage(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        cls.name = name
        COARSE_STAGES[name] = cls
        return cls

    return add


class CoarseStage:
    """Base: every sample of the round is a candidate; nothing to calibrate or save."""

    name: ClassVar[str] = "none"
    needs_recalibration: ClassVar[bool] = False

    def __init__(self, selector):
        self.selector = selector  # its parameters (buffer, lambdas, ...) and model

    def calibrate(self, x: torch.Tensor, y: torch.Tensor) -> None:
        pass

    def recalibrate(self, x: torch.Tensor, y: torch.Tensor) -> None:
        pass

    def candidates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.arange(x.shape[0])

    def candidate_outputs(self, x: torch.Tensor, head: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and ``head``'s input for the candidates ``x`` of the last ``candidates`` call."""
        return logits_and_features(self.selector.model, x, head)

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass


register_coarse_stage("none")(CoarseStage)


@register_coarse_stage("titan")
class TitanCoarseStage(CoarseStage):
    """Titan's filter: shallow-feature Rep + Div' scores into a buffer of ``buffer`` (SPEC 2)."""

    def __init__(self, selector):
        super().__init__(selector)
        s = selector
        layer = s.feature_layer or first_activation(s.model)
        self.shallow = ShallowFeatures(s.model, layer, s.coarse_pool, keep_output=s.reuse_features)
        self.filter = CoarseFilter(self.shallow, s.n_classes_, s.buffer, lambda_rep=s.lambda_rep,
                                   lambda_div=s.lambda_div, diversity=s.diversity, chunk=s.chunk, class_slots=s.class_slots)
        # the fine stage resumes the forward from the candidates' shallow features (reuse_features)
        self.rest = ForwardFromLayer(s.model, layer) if s.reuse_features else None
        self._candidate_activations = None

    @property
    def reuses_features(self) -> bool:
        """Whether the fine stage resumes from the shallow features (else: a whole forward)."""
        return self.rest is not None and self.rest.available

    def calibrate(self, x, y):
        self.filter.warm_start(x, y)
        self._check_rest(x)

    def _check_rest(self, x):
        """Keep the resumed forward only where it gives the model's own outputs (a few samples)."""
        if self.rest is not None and self.rest.available:
            few = x[:4]
            self.shallow(few)
            self.rest.check(few, self.shallow.last_output, last_linear(self.selector.model))
        self.shallow.last_output = None

    def candidates(self, x, y):
        self.filter.offer(x, y)
        ids, _ = self.filter.buffer.take()
        raw, self.shallow.last_output = self.shallow.last_output, None
        self._candidate_activations = raw[ids] if self.reuses_features and raw is not None else None
        return ids

    def candidate_outputs(self, x, head):
        activations, self._candidate_activations = self._candidate_activations, None
        if activations is None or activations.shape[0] != x.shape[0]:
            return super().candidate_outputs(x, head)
        return self.rest(activations, head)

    def get_state(self):
        stats = self.filter.stats
        if stats is None:
            return {}
        return {"class_stats": {"count": encode_tensor(stats.count), "mean": encode_tensor(stats.mean),
                                "mean_sq_norm": encode_tensor(stats.mean_sq_norm)}}

    def set_state(self, state):
        if self.rest is not None and self.rest.available:  # a loaded selector checks its cut too
            probe = torch.Generator().manual_seed(0)
            self._check_rest(torch.randn(4, *self.selector.sample_shape_, generator=probe))
        if "class_stats" not in state:
            return
        s = state["class_stats"]
        mean = decode_tensor(s["mean"], torch.float32)
        n_classes = self.selector.n_classes_
        if mean.dim() != 2 or mean.shape[0] != n_classes:
            raise StateFileError(f"class means of shape {tuple(mean.shape)} do not fit {n_classes} classes")
        self.filter._ensure_state(mean.shape[1])
        self.filter.stats.mean = mean
        self.filter.stats.count = decode_tensor(s["count"], torch.float64)
        self.filter.stats.mean_sq_norm = decode_tensor(s["mean_sq_norm"], torch.float64)


@register_coarse_stage("drip")
class DripCoarseStage(CoarseStage):
    """DRIP's windows as the coarse stage (the two papers combined): the ``buffer`` points
    farthest outside their class's window, relative to its width; classes without a window first."""

    needs_recalibration = True  # the windows are on raw scores, which move as the model trains

    def __init__(self, selector):
        super().__init__(selector)
        # recalibrated every round: the windows' split-half agreement is not measured there
        self.drip = DripSelector(selector.model, dpw=selector.drip_dpw, group_by="label", agreement_splits=0)

    def calibrate(self, x, y):
        self.drip.calibrate(x, y)

    recalibrate = calibrate

    def candidates(self, x, y):
        scores = self.drip.cam_.explain(x, return_heatmaps=False).scores.double().cpu()
        lower, upper = self.drip.lower_[y], self.drip.upper_[y]
        outside = torch.maximum(lower - scores, scores - upper)  # > 0 outside the window
        priority = outside / (upper - lower).clamp_min(1e-12)
        priority = torch.where(torch.isnan(lower), float("inf"), priority)  # no window: keep first
        return torch.topk(priority, min(self.selector.buffer, x.shape[0])).indices

    def get_state(self):
        return {"drip": self.drip._get_state()}

    def set_state(self, state):
        self.drip._set_state(state["drip"])
