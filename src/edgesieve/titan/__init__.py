"""Titan's algorithms (two-stage selection for on-device training): the coarse filter (shallow
features, class estimators, candidate buffer) and C-IS as pure functions. The selectors that
use them live in ``edgesieve.selectors.batch`` (``create_selector("titan", model=...)``); the
online-training protocol that runs them in ``edgesieve.experiments.online``."""

from edgesieve.titan.coarse import CandidateBuffer, ClassRunningStats, CoarseFilter
from edgesieve.titan.features import (
    ShallowFeatures,
    first_activation,
    last_linear,
    logits_and_features,
)
from edgesieve.titan.functional import (
    allocate_batch,
    cis_select,
    class_importance,
    last_layer_grad_norms,
    sample_proportional,
    sample_within_classes,
    water_fill,
)

__all__ = [
    "CandidateBuffer",
    "ClassRunningStats",
    "CoarseFilter",
    "ShallowFeatures",
    "allocate_batch",
    "cis_select",
    "class_importance",
    "first_activation",
    "last_layer_grad_norms",
    "last_linear",
    "logits_and_features",
    "sample_proportional",
    "sample_within_classes",
    "water_fill",
]
