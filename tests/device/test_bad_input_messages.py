"""Bad input on the device commands: pickled .npy files are named as such and never loaded, a
run stopped by bad input leaves no empty store, the NaN hint names the CLI flag, and progress
into a log is a few plain lines rather than carriage-return updates."""

import numpy as np

from edgesieve.cli.main import main


def filter_argv(artifacts, source, store):
    return ["filter", "--runtime", "onnx", "--model", str(artifacts["folder"] / "filter.onnx"), "--input", str(source),
            "--store", str(store)]


def test_a_pickled_npy_is_refused_as_not_numeric(device_artifacts, tmp_path, capsys):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(filter_argv(device_artifacts, path, tmp_path / "s.db")) == 2
    err = capsys.readouterr().err
    assert "is not a numeric array" in err and "never loads pickled data" in err and "allow_pickle" not in err
    assert not (tmp_path / "s.db").exists()


def test_bad_input_leaves_no_empty_store_and_names_the_flag(device_artifacts, tmp_path, capsys):
    x = device_artifacts["stream"][:10].copy()
    x[3, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", x)
    store = tmp_path / "s.db"
    assert main([*filter_argv(device_artifacts, tmp_path / "nan.npy", store), "--nonfinite", "reject"]) == 2
    assert "--nonfinite skip" in capsys.readouterr().err
    assert not any(tmp_path.glob("s.db*"))
    np.save(tmp_path / "wrong.npy", np.zeros((4, 1, 20, 20), np.float32))
    assert main(filter_argv(device_artifacts, tmp_path / "wrong.npy", store)) == 2
    assert not any(tmp_path.glob("s.db*"))


def test_progress_into_a_log_is_plain_lines(device_artifacts, tmp_path, capsys):
    assert main(filter_argv(device_artifacts, device_artifacts["folder"] / "stream.npy", tmp_path / "s.db")) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and 1 <= len(err.strip().splitlines()) <= 3
