"""Data sets: one registry (``load_dataset``, ``fetch_dataset``, ``dataset_spec``), loaders that
take a folder, and fetchers that fill the cache on a fresh machine."""

from edgesieve.data.bundle import DataBundle
from edgesieve.data.cache import data_home
from edgesieve.data.fashion import fetch_fashion_mnist, load_fashion_mnist_numpy
from edgesieve.data.fsdd import fetch_fsdd, load_fsdd
from edgesieve.data.har import fetch_har, load_har_recordings
from edgesieve.data.idx import read_idx
from edgesieve.data.mnist import fetch_mnist, load_mnist, load_mnist_numpy
from edgesieve.data.registry import (
    DatasetSpec,
    TrainingRecipe,
    dataset_spec,
    fetch_dataset,
    list_datasets,
    load_dataset,
    register_dataset,
)

fetch = fetch_dataset  # the short name: ``edgesieve.data.fetch("mnist")``

__all__ = [
    "DataBundle",
    "DatasetSpec",
    "TrainingRecipe",
    "data_home",
    "dataset_spec",
    "fetch",
    "fetch_dataset",
    "fetch_fashion_mnist",
    "fetch_fsdd",
    "fetch_har",
    "fetch_mnist",
    "list_datasets",
    "load_dataset",
    "load_fashion_mnist_numpy",
    "load_fsdd",
    "load_har_recordings",
    "load_mnist",
    "load_mnist_numpy",
    "read_idx",
    "register_dataset",
]
