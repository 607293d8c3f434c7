"""Data sets by name, each as a :class:`DataBundle` with its official (or documented) test split."""

from __future__ import annotations

import numpy as np

from edgesieve.data.bundle import DataBundle


def _mnist(root=None) -> DataBundle:
    from edgesieve.data.mnist import load_mnist_numpy

    x, y = load_mnist_numpy("train", root)
    xt, yt = load_mnist_numpy("test", root)
    return DataBundle("mnist", x, y, xt, yt, tuple(str(d) for d in range(10)), note="official 10k test split")


def _fashion(root=None) -> DataBundle:
    from edgesieve.data.fashion import CLASSES, load_fashion_mnist_numpy

    x, y = load_fashion_mnist_numpy("train", root)
    xt, yt = load_fashion_mnist_numpy("test", root)
    return DataBundle("fashion", x, y, xt, yt, CLASSES, note="official 10k test split")


def _fsdd(root=None) -> DataBundle:
    from edgesieve.data.fsdd import CLASSES, load_fsdd

    x, digits, _, takes = load_fsdd(root)
    test = takes < 5
    return DataBundle("fsdd", x[~test], digits[~test], x[test], digits[test], CLASSES,
                      note="test = takes 0-4 of every speaker and digit (300 recordings)")


def _har(root=None) -> DataBundle:
    from edgesieve.data.har import CLASSES, TEST_SUBJECTS, load_har_recordings, windows

    signals, labels, subjects = load_har_recordings(root)
    x, y, rec = windows(signals, labels)
    test = np.isin(subjects[rec], TEST_SUBJECTS)
    return DataBundle("har", x[~test], y[~test], x[test], y[test], CLASSES, groups=rec[~test],
                      note=f"test = all recordings of subjects {TEST_SUBJECTS}; windows of one recording stay together")


def _fashion_effnet(root=None) -> DataBundle:
    from edgesieve.data.fashion import CLASSES
    from edgesieve.data.fashion_effnet import load_fashion_effnet

    d = load_fashion_effnet(root)
    return DataBundle("fashion-effnet", d["x"], d["y"], d["x_test"], d["y_test"], CLASSES,
                      note="official 10k test split; samples are cached EfficientNet-Lite0 trunk outputs (192x2x2)")


LOADERS = {"mnist": _mnist, "fashion": _fashion, "fsdd": _fsdd, "har": _har, "fashion-effnet": _fashion_effnet}


def load_dataset(name: str, root=None) -> DataBundle:
    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(sorted(LOADERS))}")
    return LOADERS[name](root)
