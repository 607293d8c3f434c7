"""edgesieve: decide on an edge device which streaming data points to keep and train on.

Names are imported lazily, so the torch-free parts (``edgesieve.store``,
``edgesieve.runtime``) never load PyTorch.

>>> import edgesieve
>>> {"drip", "random", "titan"} <= set(edgesieve.list_selectors())
True
"""

from importlib import import_module

from edgesieve._version import __version__
from edgesieve.errors import (
    CalibrationWarning,
    DatasetNotFoundError,
    ModelMismatchError,
    ModelMismatchWarning,
    NotCalibratedError,
    StateFileError,
)

_LAZY = {
    "CAMResult": "edgesieve.cam",
    "GradCAM": "edgesieve.cam",
    "Decision": "edgesieve.selectors",
    "DripSelector": "edgesieve.selectors",
    "RandomSelector": "edgesieve.selectors",
    "Selector": "edgesieve.selectors",
    "create_selector": "edgesieve.selectors",
    "list_selectors": "edgesieve.selectors",
    "load_selector": "edgesieve.selectors",
    "register_selector": "edgesieve.selectors",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgesieve' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CalibrationWarning",
    "DatasetNotFoundError",
    "ModelMismatchError",
    "ModelMismatchWarning",
    "NotCalibratedError",
    "StateFileError",
    "__version__",
    *_LAZY,
]
