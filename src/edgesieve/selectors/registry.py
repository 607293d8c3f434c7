"""Selectors by name: ``create_selector("drip", model=m)``, ``list_selectors()``. Every
selector registers itself with ``@register_selector(name)`` in its own module; the built-in
modules are imported on the first lookup (``BUILTIN_MODULES``)."""

from __future__ import annotations

import importlib
from typing import Callable, TypeVar

from edgesieve.state import files as state_files

#: modules that register the built-in selectors
BUILTIN_MODULES = ("edgesieve.selectors.drip", "edgesieve.selectors.random", "edgesieve.selectors.batch")
_REGISTRY: dict[str, type] = {}
S = TypeVar("S", bound=type)


def register_selector(name: str) -> Callable[[S], S]:
    """Class decorator: make a ``Selector`` subclass available under ``name``."""

    def add(cls: S) -> S:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"a selector named {name!r} is already registered ({_REGISTRY[name].__name__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def list_selectors() -> list[str]:
    """Names of the registered selectors, sorted.

    >>> "drip" in list_selectors() and "random" in list_selectors()
    True
    """
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    return sorted(_REGISTRY)


def selector_class(name: str) -> type:
    if name not in _REGISTRY:
        list_selectors()  # the built-ins register on the first lookup
    if name not in _REGISTRY:
        raise ValueError(f"unknown selector {name!r}; available: {', '.join(list_selectors())}")
    return _REGISTRY[name]


def create_selector(name: str, **params):
    """Build a registered selector from its parameters.

    >>> create_selector("random", p=0.3, seed=1)
    RandomSelector(p=0.3, seed=1)
    """
    return selector_class(name)(**params)


def load_selector(path, model=None, *, strict: bool = True):
    """Load any saved selector, whatever its kind (read from the file)."""
    doc = state_files.read_state(path)
    return selector_class(doc["selector"]).load(path, model, strict=strict)
