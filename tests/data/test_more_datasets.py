import gzip
import struct
import wave

import numpy as np
import pytest

from edgesieve import DatasetNotFoundError
from edgesieve.data import fetch, load_fashion_mnist_numpy, load_fsdd
from edgesieve.data.fashion import FILES
from edgesieve.data.har import load_har_recordings, windows


def test_fashion_from_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 3)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for name, arr in zip(FILES[split], (images, labels)):
            header = bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
            (tmp_path / name).write_bytes(gzip.compress(header + arr.tobytes()))
    x, y = load_fashion_mnist_numpy("test", folder=tmp_path)
    assert x.shape == (3, 1, 28, 28) and y.dtype == np.int64
    with pytest.raises(DatasetNotFoundError, match="edgesieve data fetch fashion"):
        load_fashion_mnist_numpy("train", root=tmp_path / "empty")


def write_wav(path, samples):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def test_fsdd_loader_pads_crops_normalises_and_parses_names(tmp_path):
    write_wav(tmp_path / "3_alice_0.wav", np.full(100, 1000))
    write_wav(tmp_path / "7_bob_12.wav", np.full(9000, -2000))
    (tmp_path / "README.txt").write_text("not a recording")
    x, digits, speakers, takes = load_fsdd(folder=tmp_path)
    assert x.shape == (2, 1, 8000) and digits.tolist() == [3, 7] and speakers.tolist() == ["alice", "bob"]
    assert takes.tolist() == [0, 12]
    assert np.allclose(x[0, 0, :100], 1.0) and not x[0, 0, 100:].any()  # peak-normalised, zero-padded
    assert np.allclose(x[1, 0], -1.0)  # cropped to 1 s


def test_fsdd_fetch_from_a_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_wav(src / "1_carol_4.wav", np.zeros(10))
    target = fetch("fsdd", tmp_path / "cache", source=src)
    assert (target / "1_carol_4.wav").exists()
    with pytest.raises(DatasetNotFoundError, match="--from DIR"):
        load_fsdd(folder=tmp_path / "nothing")


def test_har_windows_keep_recordings_together(tmp_path):
    signals = [np.arange(260 * 6, dtype=np.float32).reshape(260, 6), np.ones((120, 6), np.float32)]
    x, y, rec = windows(signals, np.array([2, 5]), window=100, step=50)
    assert x.shape == (5, 6, 100) and y.tolist() == [2, 2, 2, 2, 5] and rec.tolist() == [0, 0, 0, 0, 1]
    assert np.array_equal(x[1, :, 0], signals[0][50])  # (channels, time) layout
    offsets = np.array([0, 260, 380])
    np.savez(tmp_path / "watch.npz", signals=np.concatenate(signals), offsets=offsets, labels=np.array([2, 5]),
             subjects=np.array([1, 9]), side=np.array([0, 1]))
    sig, labels, subjects = load_har_recordings(path=tmp_path / "watch.npz")
    assert [s.shape for s in sig] == [(260, 6), (120, 6)] and subjects.tolist() == [1, 9]
    with pytest.raises(DatasetNotFoundError, match="edgesieve data fetch har"):
        load_har_recordings(path=tmp_path / "missing.npz")


def test_fetch_rejects_from_for_other_sets(tmp_path):
    with pytest.raises(ValueError, match="--from applies to fsdd only"):
        fetch("mnist", tmp_path, source=tmp_path)
