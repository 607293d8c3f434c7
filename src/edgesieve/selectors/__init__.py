"""Selection policies behind one protocol, and the registry that names them."""

from edgesieve.selectors.base import REASONS, Decision, Selector
from edgesieve.selectors.batch import (
    BatchSelector,
    CamelSelector,
    EntropySelector,
    HighLossSelector,
    ImportanceSamplingSelector,
    LowLossSelector,
    OnlineCoresetSelector,
    RandomBatchSelector,
    TitanSelector,
    list_batch_methods,
)
from edgesieve.selectors.drip import DripSelector
from edgesieve.selectors.random import RandomSelector
from edgesieve.selectors.registry import (
    create_selector,
    list_selectors,
    load_selector,
    register_selector,
    selector_class,
)
from edgesieve.selectors.windows import Window, min_std_window, window_size

__all__ = [
    "BatchSelector",
    "CamelSelector",
    "EntropySelector",
    "HighLossSelector",
    "ImportanceSamplingSelector",
    "LowLossSelector",
    "OnlineCoresetSelector",
    "RandomBatchSelector",
    "TitanSelector",
    "REASONS",
    "Decision",
    "DripSelector",
    "RandomSelector",
    "Selector",
    "Window",
    "create_selector",
    "list_batch_methods",
    "list_selectors",
    "load_selector",
    "min_std_window",
    "register_selector",
    "selector_class",
    "window_size",
]
