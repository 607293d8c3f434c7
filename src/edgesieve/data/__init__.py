"""Data sets: loaders that take a folder, and fetchers that fill the cache on a fresh machine."""

from edgesieve.data.bundle import DataBundle
from edgesieve.data.cache import data_home
from edgesieve.data.fashion import fetch_fashion_mnist, load_fashion_mnist_numpy
from edgesieve.data.fashion_effnet import fetch_fashion_effnet
from edgesieve.data.fsdd import fetch_fsdd, load_fsdd
from edgesieve.data.har import fetch_har, load_har_recordings
from edgesieve.data.idx import read_idx
from edgesieve.data.mnist import fetch_mnist, load_mnist, load_mnist_numpy
from edgesieve.data.registry import LOADERS, load_dataset

#: ``edgesieve data fetch NAME`` knows these.
FETCHERS = {
    "mnist": fetch_mnist,
    "fashion": fetch_fashion_mnist,
    "fsdd": fetch_fsdd,
    "har": fetch_har,
    "fashion-effnet": fetch_fashion_effnet,
}


def fetch(name: str, root=None, *, force: bool = False, source=None):
    """Fetch a data set by name into the cache; returns its location. ``source`` (FSDD only)
    is a folder holding the recordings."""
    if name not in FETCHERS:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(sorted(FETCHERS))}")
    if source is not None:
        if name != "fsdd":
            raise ValueError("--from applies to fsdd only")
        return fetch_fsdd(root, force=force, source=source)
    return FETCHERS[name](root, force=force)


__all__ = [
    "FETCHERS",
    "LOADERS",
    "DataBundle",
    "data_home",
    "fetch",
    "fetch_fashion_effnet",
    "fetch_fashion_mnist",
    "fetch_fsdd",
    "fetch_har",
    "fetch_mnist",
    "load_dataset",
    "load_fashion_mnist_numpy",
    "load_fsdd",
    "load_har_recordings",
    "load_mnist",
    "load_mnist_numpy",
    "read_idx",
]
