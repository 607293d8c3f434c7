"""Data sets by name. Each built-in data set is one module of this package that declares itself
once with :func:`register_dataset` (loader, fetcher, modality, default model and training recipe,
natural sessions, class names); a new data set is one new module plus its line in
``BUILTIN_MODULES``. Your own data: ``register_dataset`` from your code, or
``DataBundle.from_arrays`` straight into the protocols."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgesieve.data.bundle import DataBundle

#: modules that register the built-in data sets (imported on first lookup)
BUILTIN_MODULES = ("mnist", "fashion", "fsdd", "har", "fashion_effnet")
MODALITIES = ("image", "audio", "imu", "features")
PROTOCOLS = ("drip", "titan")


@dataclass(frozen=True)
class TrainingRecipe:
    """How the storage protocol trains a model on this data set (Adam, cosine decay). Chosen on
    held-out parts of the training pool, never on the test split."""

    epochs: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the library knows about a data set, in one place.

    ``model`` is a registered model name (``edgesieve.models.build_model``); ``sessions``
    says what the data's own sessions are (``DataBundle.sessions``), None if it has none;
    ``protocols`` the experiments it is set up for.
    """

    name: str
    load: Callable[..., DataBundle]  # load(root=None) -> DataBundle
    fetch: Callable[..., Path]  # fetch(root=None, *, force=False, **options) -> where it is
    modality: str
    model: str
    recipe: TrainingRecipe
    classes: tuple[str, ...]
    description: str
    sessions: str | None = None
    protocols: tuple[str, ...] = PROTOCOLS
    fetch_options: tuple[str, ...] = ()  # extra keyword options fetch takes (fsdd: "source")

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        unknown = set(self.protocols) - set(PROTOCOLS)
        if unknown:
            raise ValueError(f"unknown protocols {sorted(unknown)}; known: {PROTOCOLS}")


_REGISTRY: dict[str, DatasetSpec] = {}
_loaded_builtins = False


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Make a data set available by ``spec.name`` everywhere (CLI, protocols, device sources)."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a data set named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _builtins() -> dict[str, DatasetSpec]:
    global _loaded_builtins
    if not _loaded_builtins:
        for module in BUILTIN_MODULES:
            importlib.import_module(f"edgesieve.data.{module}")
        _loaded_builtins = True
    return _REGISTRY


def list_datasets(protocol: str | None = None) -> list[str]:
    """Registered data set names, sorted; only those set up for ``protocol`` if given.

    >>> list_datasets("titan")
    ['fashion', 'fsdd', 'har', 'mnist']
    """
    return sorted(n for n, s in _builtins().items() if protocol is None or protocol in s.protocols)


def dataset_spec(name: str) -> DatasetSpec:
    specs = _builtins()
    if name not in specs:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(sorted(specs))}")
    return specs[name]


def load_dataset(name: str, root=None) -> DataBundle:
    """The data set as a :class:`DataBundle` (training pool and its documented test split)."""
    return dataset_spec(name).load(root)


def fetch_dataset(name: str, root=None, *, force: bool = False, **options) -> Path:
    """Fill the cache with a data set; returns where it is. Options a fetcher does not take
    (``source`` is FSDD's) are refused rather than ignored."""
    spec = dataset_spec(name)
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - set(spec.fetch_options))
    if extra == ["source"]:
        takers = [n for n in list_datasets() if "source" in dataset_spec(n).fetch_options]
        raise ValueError(f"--from applies to {', '.join(takers)} only (source= in Python)")
    if extra:
        raise ValueError(f"fetching {name} takes no {', '.join(extra)} (only: {', '.join(spec.fetch_options) or 'none'})")
    return spec.fetch(root, force=force, **given)
