"""What goes into the filter equals what training saw: one WAV decoder, labels that survive
``store export`` -> ``filter --input``, and every registered data set name as an input."""

import wave

import numpy as np
import pytest

from edgesieve.cli.main import main
from edgesieve.data.fsdd import load_fsdd
from edgesieve.device.sources import open_source, read_sample_file
from edgesieve.errors import DatasetNotFoundError
from edgesieve.store import RetainedStore


def write_wav(path, samples, rate=8000):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def test_one_wav_gives_identical_tensors_in_training_and_on_the_device(tmp_path):
    rng = np.random.default_rng(0)
    write_wav(tmp_path / "3_alice_7.wav", (rng.standard_normal(6000) * 900).astype(np.int16))  # a quiet speaker
    x_train, digits, _, _ = load_fsdd(folder=tmp_path)
    x_device = read_sample_file(tmp_path / "3_alice_7.wav", (1, 8000))
    assert digits.tolist() == [3]
    assert x_device.dtype == x_train.dtype == np.float32
    assert np.array_equal(x_device, x_train[0])
    assert float(np.abs(x_device).max()) == 1.0  # peak-normalised on both paths


def test_labels_survive_filter_export_filter(device_artifacts, tmp_path):
    stream = device_artifacts["stream"][:300]
    labels = np.arange(300) % 10
    np.savez(tmp_path / "in.npz", x=stream, y=labels)
    onnx = str(device_artifacts["folder"] / "filter.onnx")
    common = ["--runtime", "onnx", "--model", onnx, "--no-progress"]
    assert main(["filter", *common, "--input", str(tmp_path / "in.npz"), "--store", str(tmp_path / "a.db")]) == 0
    assert main(["store", "export", str(tmp_path / "a.db"), "--out", str(tmp_path / "a.npz")]) == 0
    assert main(["filter", *common, "--input", str(tmp_path / "a.npz"), "--store", str(tmp_path / "b.db")]) == 0
    with RetainedStore(tmp_path / "a.db", readonly=True) as a, RetainedStore(tmp_path / "b.db", readonly=True) as b:
        first, second = a.to_numpy(), b.to_numpy()
    assert len(first["label"]) > 0 and (first["label"] >= 0).all()
    assert np.array_equal(first["label"], labels[first["arrival"]])
    kept_again = first["label"][second["arrival"]]  # the second store's arrivals index the export
    assert np.array_equal(second["label"], kept_again)


@pytest.mark.parametrize("name", ["fashion", "mnist"])
def test_a_registered_data_set_name_is_an_input(name, device_artifacts, tmp_path, capsys):
    try:
        source = open_source(f"{name}:test", (1, 28, 28))
    except DatasetNotFoundError:
        pytest.skip(f"{name} not fetched")
    assert len(source) == 10_000 and source.name == f"{name}:test" and source.labels is not None
    argv = ["filter", "--runtime", "onnx", "--model", str(device_artifacts["folder"] / "filter.onnx"), "--input",
            f"{name}:test", "--store", str(tmp_path / "s.db"), "--limit", "128", "--no-progress"]
    assert main(argv) == 0
    with RetainedStore(tmp_path / "s.db", readonly=True) as store:
        assert store.next_arrival(f"{name}:test") == 128 and (store.to_numpy()["label"] >= 0).all()


def test_unknown_input_names_the_known_data_sets():
    with pytest.raises(ValueError, match="fashion, fashion-effnet, fsdd, har, mnist"):
        open_source("cifar10:test", (1, 28, 28))
    with pytest.raises(ValueError, match="split must be train or test"):
        open_source("mnist:validation", (1, 28, 28))
