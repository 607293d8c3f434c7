"""Titan (two-stage selection for on-device training): the coarse filter and the fine,
per-round batch selection with its baselines. Work in progress: see the project's issue list
for the online-training runner and the pipeline."""

from edgesieve.titan.coarse import CandidateBuffer, ClassRunningStats, CoarseFilter
from edgesieve.titan.fine import BATCH_SELECTORS, logits_and_features, select_batch
from edgesieve.titan.functional import (
    allocate_batch,
    cis_select,
    class_importance,
    last_layer_grad_norms,
    sample_proportional,
)

__all__ = [
    "BATCH_SELECTORS",
    "CandidateBuffer",
    "ClassRunningStats",
    "CoarseFilter",
    "allocate_batch",
    "cis_select",
    "class_importance",
    "last_layer_grad_norms",
    "logits_and_features",
    "sample_proportional",
    "select_batch",
]
