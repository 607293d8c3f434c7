"""Titan (two-stage selection for on-device training): the coarse filter, the fine per-round
batch selection with its rivals, and the online-training protocol (sequential or pipelined).
The selectors themselves (``create_selector("titan", model=...)``) live in
``edgesieve.selectors.batch``."""

from edgesieve.titan.coarse import CandidateBuffer, ClassRunningStats, CoarseFilter
from edgesieve.titan.features import ShallowFeatures, first_activation, last_linear
from edgesieve.titan.fine import BATCH_SELECTORS, Picked, logits_and_features, select_batch
from edgesieve.titan.functional import (
    allocate_batch,
    cis_select,
    class_importance,
    last_layer_grad_norms,
    sample_proportional,
    sample_within_classes,
)

__all__ = [
    "BATCH_SELECTORS",
    "CandidateBuffer",
    "ClassRunningStats",
    "CoarseFilter",
    "Picked",
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
    "select_batch",
]
