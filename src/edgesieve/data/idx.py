"""Reader for the IDX format of MNIST and Fashion-MNIST (plain or gzipped)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file into a numpy array; ``.gz`` files are decompressed on the fly.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t-idx1-ubyte")
    >>> _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(p)
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated (header needs {header} bytes, file has {len(data)})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path} is truncated or padded: {len(data)} bytes, shape {shape} needs {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def find_idx(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz`` (a name given with .gz is also tried plain)."""
    stem = name[:-3] if name.endswith(".gz") else name
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx_images(folder: Path, images: str, labels: str, what: str, hint: str):
    """An IDX image file and its label file from ``folder`` (plain or .gz) as float32 images
    (N, 1, H, W) in [0, 1] and int64 labels; ``what`` and ``hint`` make the missing-file error."""
    from edgesieve.errors import DatasetNotFoundError

    paths = [find_idx(folder, name) for name in (images, labels)]
    if None in paths:
        raise DatasetNotFoundError(f"{what} files not found in {folder} (need {images}, {labels}, plain or .gz). {hint}")
    x, y = (read_idx(p) for p in paths)
    if x.ndim != 3 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{what} files in {folder} disagree: images {x.shape}, labels {y.shape}")
    return x[:, None].astype(np.float32) / 255.0, y.astype(np.int64)
