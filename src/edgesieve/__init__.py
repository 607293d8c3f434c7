"""edgesieve: decide on an edge device which streaming data points to keep and train on.

>>> import edgesieve
>>> sorted(edgesieve.list_selectors())[:2]
['drip', 'random']
"""

from edgesieve._version import __version__
from edgesieve.cam import CAMResult, GradCAM
from edgesieve.errors import (
    CalibrationWarning,
    DatasetNotFoundError,
    ModelMismatchError,
    ModelMismatchWarning,
    NotCalibratedError,
    StateFileError,
)
from edgesieve.selectors import (
    Decision,
    DripSelector,
    RandomSelector,
    Selector,
    create_selector,
    list_selectors,
    load_selector,
    register_selector,
)

__all__ = [
    "CalibrationWarning",
    "CAMResult",
    "DatasetNotFoundError",
    "Decision",
    "DripSelector",
    "GradCAM",
    "ModelMismatchError",
    "ModelMismatchWarning",
    "NotCalibratedError",
    "RandomSelector",
    "Selector",
    "StateFileError",
    "__version__",
    "create_selector",
    "list_selectors",
    "load_selector",
    "register_selector",
]
