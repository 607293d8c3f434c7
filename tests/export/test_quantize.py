"""The int8 filter: onnxruntime's static quantisation, DRIP's windows moved to the same ranks of
the quantised scores, a report on held-out samples, and nothing written on bad input."""

import json

import numpy as np
import pytest

from edgesieve.cli.main import main
from edgesieve.export import ExportError
from edgesieve.export.quantize import quantize_filter, rank_preserving_windows
from edgesieve.runtime import OnnxFilter


def test_windows_keep_their_ranks_and_classes_without_one_stay_without():
    f = np.array([1.0, 2, 3, 4, 5, 1, 2])
    fp = np.array([0, 0, 0, 0, 0, 1, 1])
    q = np.array([1.5, 2.5, 3.1, 4.9, 6.0, 0.0, 0.1])
    lo, hi = rank_preserving_windows(f, fp, q, fp, [2.0, np.nan], [4.0, np.nan])
    assert lo[0] == 2.5 and hi[0] == 4.9 and np.isnan(lo[1]) and np.isnan(hi[1])
    # a class the quantised graph predicts twice as often: the window covers the same share of it
    q2, qp2 = np.arange(9.0), np.zeros(9, int)
    lo, hi = rank_preserving_windows(f[:5], fp[:5], q2, qp2, [2.0], [4.0])
    assert (lo[0], hi[0]) == (2.0, 6.0)


def test_an_int8_filter_agrees_with_the_float_one_and_runs_like_any_filter(device_artifacts, tmp_path):
    float_path = device_artifacts["folder"] / "filter.onnx"
    stream = device_artifacts["stream"]
    report = quantize_filter(float_path, tmp_path / "f8.onnx", stream[:800], stream[800:1400], latency_samples=50)
    assert report.size_bytes < 0.5 * report.float_size_bytes
    assert report.n_calibration == 800 and report.n_holdout == 600
    assert report.keep_agreement > 0.9 and report.predicted_agreement > 0.95 and report.latency_ms > 0
    assert "keep/drop agreement with the float filter" in report.format()
    q = OnnxFilter(tmp_path / "f8.onnx")
    meta = q.session.get_modelmeta().custom_metadata_map
    assert meta["quantized"] == "int8" and q.sample_shape == (1, 28, 28)
    d = q.decide(stream[:100])
    assert d.probs.shape == (100, 10) and d.keep.dtype == bool
    thresholds = json.loads(meta["selector"])["thresholds"]
    import onnx
    from onnx import numpy_helper

    lower = next(numpy_helper.to_array(i) for i in onnx.load(str(tmp_path / "f8.onnx")).graph.initializer if i.name == "lower")
    assert all(lower[int(c)] == pytest.approx(b[0]) for c, b in thresholds.items())


@pytest.mark.parametrize("kwargs,error,message", [
    ({"mode": "int4"}, ValueError, "unknown quantisation 'int4'; known: int8, int8-a16, int8-weights"),
    ({"calibration": np.zeros((10, 28, 28), np.float32)}, ValueError, r"calibration data must be floating-point samples of shape \(1, 28, 28\)"),
    ({"holdout": np.full((5, 1, 28, 28), np.nan, np.float32)}, ValueError, "held-out data holds NaN or Inf"),
    # finite in float64, Inf once in float32: said up front, not found later inside the calibration
    ({"calibration": np.full((5, 1, 28, 28), 1e39)}, ValueError, "calibration data holds finite values beyond float32's range"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(device_artifacts, tmp_path, kwargs, error, message):
    stream = device_artifacts["stream"]
    args = {"calibration": stream[:100], "holdout": stream[100:200], **kwargs}
    mode = args.pop("mode", "int8")
    with pytest.raises(error, match=message):
        quantize_filter(device_artifacts["folder"] / "filter.onnx", tmp_path / "q.onnx", mode=mode, **args)
    assert not list(tmp_path.iterdir())


def test_a_graph_the_quantiser_cannot_handle_is_an_export_error(device_artifacts, tmp_path, monkeypatch):
    import onnxruntime.quantization as q

    def broken(*a, **k):
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(q, "quantize_static", broken)
    stream = device_artifacts["stream"]
    with pytest.raises(ExportError, match="cannot be quantised to int8: RuntimeError: unsupported op; nothing written"):
        quantize_filter(device_artifacts["folder"] / "filter.onnx", tmp_path / "q.onnx", stream[:50], stream[50:100])
    assert not list(tmp_path.iterdir())


def test_export_quantize_on_the_command_line(device_artifacts, tmp_path, capsys):
    folder = device_artifacts["folder"]
    np.save(tmp_path / "cal.npy", device_artifacts["stream"][:500])
    base = ["export", "--model", "mnist_cnn", "--weights", str(folder / "model.safetensors"), "--selector",
            str(folder / "drip.json"), "--check-samples", "64"]
    assert main(base + ["--out", str(tmp_path / "f8.onnx"), "--quantize", "int8", "--calibration", str(tmp_path / "cal.npy")]) == 0
    out = capsys.readouterr().out
    assert "On 100 held-out samples: keep/drop agreement" in out and (tmp_path / "f8.onnx").exists()
    assert main(base + ["--out", str(tmp_path / "w8.onnx"), "--quantize", "int8-weights", "--calibration", str(tmp_path / "cal.npy")]) == 0
    assert "keep/drop agreement" in capsys.readouterr().out
    assert main(["filter", "--runtime", "onnx", "--model", str(tmp_path / "w8.onnx"), "--input", str(tmp_path / "cal.npy"),
                 "--store", str(tmp_path / "w8.db")]) == 0
    capsys.readouterr()
    for extra, message in ((["--quantize", "int4", "--calibration", str(tmp_path / "cal.npy")], "unknown quantisation 'int4'"),
                           (["--quantize", "int8"], "needs --calibration DATA"),
                           (["--calibration", str(tmp_path / "cal.npy")], "go with --quantize (int8, int8-a16, int8-weights)")):
        assert main(base + ["--out", str(tmp_path / "bad.onnx")] + extra) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "bad.onnx").exists()


def test_int8_weights_store_int8_convolutions_that_fold_back_to_the_float_arithmetic(device_artifacts, tmp_path):
    """int8-weights: a third of the file, the graph's weights rebuilt as Cast * scale, which
    onnxruntime folds at load."""
    import onnx

    stream = device_artifacts["stream"]
    folder = device_artifacts["folder"]
    report = quantize_filter(folder / "filter.onnx", tmp_path / "w8.onnx", stream[:800], stream[800:1400],
                             mode="int8-weights", latency_samples=20)
    assert report.size_bytes < 0.45 * report.float_size_bytes
    assert report.keep_agreement > 0.9 and report.predicted_agreement > 0.95
    proto = onnx.load(str(tmp_path / "w8.onnx"))
    int8 = [i for i in proto.graph.initializer if i.name.endswith("_int8")]
    assert len(int8) == sum(n.op_type == "Conv" for n in proto.graph.node) and "QuantizeLinear" not in {n.op_type for n in proto.graph.node}
    q = OnnxFilter(tmp_path / "w8.onnx")
    assert q.session.get_modelmeta().custom_metadata_map["quantized"] == "int8-weights"
    # the rebuilt weights are the float weights up to half a quantisation step per channel
    float_out, q_out = OnnxFilter(folder / "filter.onnx").decide(stream[:200]), q.decide(stream[:200])
    assert np.abs(float_out.probs - q_out.probs).max() < 0.05
