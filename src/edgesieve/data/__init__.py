"""Data sets: loaders that take a folder, and fetchers that fill the cache on a fresh machine."""

from edgesieve.data.cache import data_home
from edgesieve.data.idx import read_idx
from edgesieve.data.mnist import fetch_mnist, load_mnist, load_mnist_numpy

#: ``edgesieve data fetch NAME`` knows these.
FETCHERS = {"mnist": fetch_mnist}


def fetch(name: str, root=None, *, force: bool = False):
    """Fetch a data set by name into the cache; returns its folder."""
    if name not in FETCHERS:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(sorted(FETCHERS))}")
    return FETCHERS[name](root, force=force)


__all__ = ["FETCHERS", "data_home", "fetch", "fetch_mnist", "load_mnist", "load_mnist_numpy", "read_idx"]
