"""Streaming sources for the filter: array files, folders of files, or a named data set.

Torch-free (numpy, stdlib ``wave``; Pillow only when a folder holds images). Every source yields
micro-batches ``(arrivals, x, labels)`` from a given arrival index, so a resumed filter skips
exactly what was committed. ``labels`` is -1 where unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"}
FILE_SUFFIXES = IMAGE_SUFFIXES | {".wav", ".npy"}


@dataclass
class ArraySource:
    """Samples held in (or memory-mapped from) an array; ``name`` identifies the stream."""

    name: str
    x: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batches(self, start: int, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for i in range(start, len(self), batch_size):
            j = min(i + batch_size, len(self))
            labels = self.labels[i:j] if self.labels is not None else np.full(j - i, -1)
            yield np.arange(i, j), np.asarray(self.x[i:j]), np.asarray(labels, dtype=np.int64)


@dataclass
class NpyFileSource:
    """An .npy file read one micro-batch at a time with plain file reads: memory stays that of
    one batch however long the stream (a memory map would keep every page it touched resident,
    so a 100,000-sample stream would grow the process by its whole size)."""

    name: str
    path: Path
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int  # where the data start, after the .npy header

    @classmethod
    def open(cls, path: Path) -> "NpyFileSource | ArraySource":
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):  # 3.0 (utf-8 field names): let numpy map it
                return ArraySource(str(path.resolve()), load_numeric(path, mmap_mode="r"))
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
        if dtype.hasobject:
            raise ValueError(f"{path} is not a numeric array (it holds Python objects); edgesieve never loads "
                             "pickled data. Save plain arrays, e.g. np.save(path, x.astype('float32'))")
        if fortran or len(shape) < 1:  # rare layouts: a memory map reads them correctly
            return ArraySource(str(path.resolve()), load_numeric(path, mmap_mode="r"))
        return cls(str(path.resolve()), path, tuple(shape), dtype, offset)

    def __len__(self) -> int:
        return int(self.shape[0])

    def batches(self, start: int, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        row = int(np.prod(self.shape[1:], dtype=np.int64))
        with open(self.path, "rb") as f:
            for i in range(start, len(self), batch_size):
                j = min(i + batch_size, len(self))
                f.seek(self.offset + i * row * self.dtype.itemsize)
                x = np.fromfile(f, dtype=self.dtype, count=(j - i) * row)
                if x.size != (j - i) * row:
                    raise ValueError(f"{self.path} is truncated: samples {i}..{j - 1} are not all there")
                yield np.arange(i, j), x.reshape((j - i, *self.shape[1:])), np.full(j - i, -1, dtype=np.int64)


@dataclass
class FolderSource:
    """One sample per file (.npy, .wav, images), in sorted file-name order."""

    name: str
    files: list[Path]
    sample_shape: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.files)

    def batches(self, start: int, batch_size: int):
        for i in range(start, len(self), batch_size):
            chunk = self.files[i : i + batch_size]
            x = np.stack([read_sample_file(f, self.sample_shape) for f in chunk])
            yield np.arange(i, i + len(chunk)), x, np.full(len(chunk), -1, dtype=np.int64)


def load_numeric(path: Path, **kwargs):
    """``np.load`` that never unpickles: a file of Python objects gets a clear error instead of
    numpy's hint to allow pickles (loading pickles runs arbitrary code)."""
    try:
        return np.load(path, allow_pickle=False, **kwargs)
    except ValueError as err:
        if "pickle" not in str(err) and "Python objects" not in str(err):
            raise
        raise ValueError(f"{path} is not a numeric array (it holds Python objects); edgesieve never loads "
                         "pickled data. Save plain arrays, e.g. np.save(path, x.astype('float32'))") from None


def read_sample_file(path: Path, sample_shape: Sequence[int]) -> np.ndarray:
    """Load one file as float32 shaped like ``sample_shape`` (C, ...) for the model."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = load_numeric(path)
    elif suffix == ".wav":
        array = _read_wav(path, sample_shape)
    elif suffix in IMAGE_SUFFIXES:
        array = _read_image(path, sample_shape)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (use {sorted(FILE_SUFFIXES)})")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{path} holds {array.dtype} values; the model needs floating-point input")
    array = array.astype(np.float32, copy=False)
    if tuple(array.shape) != tuple(sample_shape):
        raise ValueError(f"{path} has shape {array.shape}, the model expects {tuple(sample_shape)}")
    return array


def _read_wav(path: Path, sample_shape: Sequence[int]) -> np.ndarray:
    # decoded exactly as the training data (peak-normalised): see edgesieve.data.wav
    from edgesieve.data.wav import decode_wav

    signal = decode_wav(path, int(sample_shape[-1]))
    return signal.reshape(1, -1) if len(sample_shape) == 2 else signal


def _read_image(path: Path, sample_shape: Sequence[int]) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the install
        raise ValueError(f"{path}: reading images needs Pillow (pip install pillow)") from None
    if len(sample_shape) != 3:
        raise ValueError(f"{path}: the model expects {tuple(sample_shape)}, not an image (C, H, W)")
    channels, height, width = sample_shape
    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB").resize((width, height))
        array = np.asarray(img, dtype=np.float32) / 255.0
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def open_source(spec: str, sample_shape: Sequence[int]) -> ArraySource | FolderSource:
    """A source from a path (.npy, .npz, folder) or a data set name (``mnist``, ``mnist:train``).

    An .npz needs an ``x`` array (or exactly one array) and may hold labels ``y`` (-1 for
    unknown), as ``edgesieve store export`` writes them. A data set name is any registered one
    (``edgesieve data list``), with ``:train`` or ``:test`` (default: test).
    """
    from edgesieve.store.sqlite_store import NPZ_LABELS, NPZ_SAMPLES

    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FILE_SUFFIXES)
        if not files:
            raise ValueError(f"{path} holds no {sorted(FILE_SUFFIXES)} files")
        return FolderSource(str(path.resolve()), files, tuple(sample_shape))
    if path.suffix == ".npy" and path.is_file():
        return NpyFileSource.open(path)
    if path.suffix == ".npz" and path.is_file():
        with load_numeric(path) as npz:
            keys = list(npz.keys())
            key = NPZ_SAMPLES if NPZ_SAMPLES in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise ValueError(f"{path} holds {keys}; name the samples array {NPZ_SAMPLES!r} (labels {NPZ_LABELS!r})")
            try:
                labels = npz[NPZ_LABELS].astype(np.int64) if NPZ_LABELS in keys else None
                return ArraySource(str(path.resolve()), npz[key], labels)
            except ValueError as err:
                if "pickle" not in str(err):
                    raise
                raise ValueError(f"{path} holds Python objects, not numeric arrays; edgesieve never loads "
                                 "pickled data. Save plain arrays with np.savez(path, x=..., y=...)") from None
    if path.suffix in {".npy", ".npz"}:
        raise ValueError(f"input file {path} does not exist")
    from edgesieve.data.registry import list_datasets, load_dataset

    name, _, split = spec.partition(":")
    if name not in list_datasets():
        raise ValueError(f"input {spec!r} is not a folder, an .npy/.npz file, or a data set name "
                         f"({', '.join(list_datasets())}, optionally with :train or :test)")
    split = split or "test"
    if split not in ("train", "test"):
        raise ValueError(f"input {spec!r}: the split must be train or test, got {split!r}")
    bundle = load_dataset(name)
    x, y = (bundle.x, bundle.y) if split == "train" else (bundle.x_test, bundle.y_test)
    return ArraySource(f"{name}:{split}", x, y)
