"""Per-round batch selectors (the online-training protocol): Titan and its rivals, each one
module that registers one ``BatchSelector`` subclass; coarse stages in ``coarse``. A new batch
method is one new module plus its line below."""

from edgesieve.selectors.batch.base import (
    BatchSelector,
    list_batch_methods,
    select_batch,
)
from edgesieve.selectors.batch.camel import CamelSelector
from edgesieve.selectors.batch.coarse import (
    COARSE_STAGES,
    CoarseStage,
    register_coarse_stage,
)
from edgesieve.selectors.batch.entropy import EntropySelector
from edgesieve.selectors.batch.high_loss import HighLossSelector
from edgesieve.selectors.batch.importance import ImportanceSamplingSelector
from edgesieve.selectors.batch.infobatch import InfoBatchSelector
from edgesieve.selectors.batch.low_loss import LowLossSelector
from edgesieve.selectors.batch.ocs import OnlineCoresetSelector
from edgesieve.selectors.batch.picked import Picked
from edgesieve.selectors.batch.rank_loss import RankLossSelector
from edgesieve.selectors.batch.rho_loss import RhoLossSelector
from edgesieve.selectors.batch.rs import RandomBatchSelector
from edgesieve.selectors.batch.titan import TitanSelector
from edgesieve.selectors.batch.trust_balanced import TrustBalancedBatchSelector

__all__ = [
    "COARSE_STAGES",
    "BatchSelector",
    "CamelSelector",
    "CoarseStage",
    "EntropySelector",
    "HighLossSelector",
    "ImportanceSamplingSelector",
    "InfoBatchSelector",
    "LowLossSelector",
    "OnlineCoresetSelector",
    "Picked",
    "RandomBatchSelector",
    "RankLossSelector",
    "RhoLossSelector",
    "TitanSelector",
    "TrustBalancedBatchSelector",
    "list_batch_methods",
    "register_coarse_stage",
    "select_batch",
]
