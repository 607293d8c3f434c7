"""One shape for every data set the experiments use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DataBundle:
    """Training pool and test split as numpy arrays (float32 samples, int64 labels).

    ``groups`` (optional, one id per training sample) marks samples that must stay on one side
    of every split, e.g. overlapping windows cut from one recording. ``sessions`` (optional, one
    id per training sample) names the data's own sessions (FSDD: speaker; HAR: recording), for
    streams that arrive session by session; it never changes a split.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    groups: np.ndarray | None = None
    note: str = ""
    sessions: np.ndarray | None = None

    def __post_init__(self):
        if self.x.shape[0] != self.y.shape[0] or self.x_test.shape[0] != self.y_test.shape[0]:
            raise ValueError(f"{self.name}: samples and labels disagree in length")
        if self.x.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"{self.name}: training and test samples differ in shape")
        if self.groups is not None and self.groups.shape[0] != self.x.shape[0]:
            raise ValueError(f"{self.name}: one group id per training sample is needed")
        if self.sessions is not None and self.sessions.shape[0] != self.x.shape[0]:
            raise ValueError(f"{self.name}: one session id per training sample is needed")

    @classmethod
    def from_arrays(cls, name, x, y, x_test=None, y_test=None, *, classes=None, groups=None,
                    test_fraction: float = 0.2, seed: int = 0) -> "DataBundle":
        """Your own data (numpy arrays or tensors). Without a test split, ``test_fraction`` of
        the samples is held out once (seeded), the same for every run.

        >>> b = DataBundle.from_arrays("mine", np.zeros((10, 1, 4), np.float32), np.arange(10) % 2)
        >>> b.x.shape[0], b.x_test.shape[0], b.classes
        (8, 2, ('0', '1'))
        """
        x, y = _numpy(x, np.float32), _numpy(y, np.int64)
        if (x_test is None) != (y_test is None):
            raise ValueError("give both x_test and y_test, or neither")
        if x_test is None:
            if not 0 < test_fraction < 1:
                raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
            order = np.random.default_rng(seed).permutation(len(y))
            n_test = int(round(test_fraction * len(y)))
            test, train = order[:n_test], np.sort(order[n_test:])
            x_test, y_test = x[test], y[test]
            x, y = x[train], y[train]
            groups = None if groups is None else _numpy(groups, np.int64)[train]
        n_classes = int(max(y.max(), _numpy(y_test, np.int64).max())) + 1
        return cls(name, x, y, _numpy(x_test, np.float32), _numpy(y_test, np.int64),
                   tuple(classes) if classes is not None else tuple(str(c) for c in range(n_classes)),
                   groups=None if groups is None else _numpy(groups, np.int64))

    @classmethod
    def from_datasets(cls, name, train, test=None, **kwargs) -> "DataBundle":
        """From PyTorch-style datasets yielding ``(x, label)`` pairs (read once into memory)."""
        def read(ds):
            xs, ys = zip(*(ds[i] for i in range(len(ds))))
            return np.stack([_numpy(v, np.float32) for v in xs]), np.array([int(v) for v in ys], dtype=np.int64)

        x, y = read(train)
        x_test, y_test = read(test) if test is not None else (None, None)
        return cls.from_arrays(name, x, y, x_test, y_test, **kwargs)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def sample_nbytes(self) -> int:
        return int(self.x[0].nbytes)


def _numpy(a, dtype) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensors, without importing torch here
        a = a.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(a), dtype=dtype)
