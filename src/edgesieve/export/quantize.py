"""An int8 filter: static quantisation of an exported DRIP filter with onnxruntime's own tools,
then DRIP's windows recalibrated on the quantised graph's own scores.

- **What is quantised**: the convolutions (QDQ format, int8 weights, per channel by default;
  activations uint8 for ``int8``, uint16 for ``int8-a16``, min-max ranges from the calibration
  data). ``int8-a16`` keeps the file as small and perturbs the scores far less, but onnxruntime
  has no fast 16-bit convolution on CPU, so it runs slower than the float filter. The trunk's convolutions are
  nearly all of the arithmetic; the classifier, the closed-form Grad-CAM and the window lookup
  stay float, so the score is computed exactly as before from slightly different activations.
- **int8-weights**: the convolutions' weights stored as int8, symmetric per output channel
  (scale = max |w| / 127), each rebuilt in the graph as ``Cast(int8 -> float) * scale``. Those
  nodes have constant inputs, so onnxruntime folds them back into float weights when the session
  loads: the file is about a third of the float one and the arithmetic is the float filter's, at
  its latency, with only the weights' rounding (under 0.4% of each channel's largest weight) to
  perturb the scores. A download/flash saving, not a compute or RAM one; it is the mode that
  keeps the device's decisions closest to the float filter.
- **Why recalibrate**: quantisation moves every score a little, and a point near a window's edge
  flips (measured before this module: 3.1% of decisions on MNIST with the float windows). The
  device must decide consistently with its own scores, so each class's window is moved to the
  same *ranks* of the quantised graph's scores on the calibration data that the float window
  covers among the float scores (rank-preserving: a window that held calibration points i..j of
  its class, sorted by score, holds i..j again). Classes without a window stay without one.
- **The report**, on a held-out stream the calibration never saw: keep/drop agreement and
  predicted-class agreement with the float filter, both files' sizes and batch-1 latencies.

Nothing is written unless the quantised graph passes ``onnx.checker`` and loads in onnxruntime.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesieve.export.onnx_export import ExportError
from edgesieve.finite import finite_float32

#: mode -> (activation type, weight type), onnxruntime.quantization.QuantType names; int8-weights
#: quantises the convolutions' weights only (ours, not onnxruntime's quantiser: see the module doc)
QUANTIZE_MODES = {"int8": ("QUInt8", "QInt8"), "int8-a16": ("QUInt16", "QInt8"), "int8-weights": None}


@dataclass(frozen=True)
class QuantizeReport:
    path: Path
    size_bytes: int
    float_size_bytes: int
    n_calibration: int
    n_holdout: int
    keep_agreement: float  # share of held-out samples kept / dropped alike by both filters
    predicted_agreement: float
    latency_ms: float  # median batch-1 latency of the int8 filter
    float_latency_ms: float
    windows_moved: int  # classes whose window was recalibrated

    def format(self) -> str:
        return (f"wrote {self.path} ({self.size_bytes:,} bytes, {self.size_bytes / self.float_size_bytes:.0%} of the float "
                f"filter's {self.float_size_bytes:,}); windows of {self.windows_moved} classes recalibrated on its own "
                f"scores over {self.n_calibration} calibration samples. On {self.n_holdout} held-out samples: keep/drop "
                f"agreement with the float filter {self.keep_agreement:.2%}, predicted class agreement "
                f"{self.predicted_agreement:.2%}; batch-1 latency {self.latency_ms:.3f} ms (float {self.float_latency_ms:.3f} ms)")


def check_mode(mode: str) -> None:
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantisation {mode!r}; known: {', '.join(QUANTIZE_MODES)}")


def rank_preserving_windows(float_scores, float_pred, q_scores, q_pred, lower, upper):
    """Each class's window [lower, upper] (a bound that is not finite: none) moved onto the quantised scores: the same
    ranks among that class's calibration scores.

    >>> lo, hi = rank_preserving_windows(np.array([1., 2, 3, 4]), np.zeros(4, int), np.array([10., 20, 30, 40]),
    ...                                  np.zeros(4, int), np.array([2.]), np.array([3.]))
    >>> lo.tolist(), hi.tolist()
    ([20.0], [30.0])
    """
    lower, upper = np.array(lower, np.float64), np.array(upper, np.float64)
    for c in np.flatnonzero(np.isfinite(lower)):
        f, q = np.sort(float_scores[float_pred == c]), np.sort(q_scores[q_pred == c])
        if len(f) < 2 or len(q) < 2:
            continue  # too few points to place the window: the float bounds stay
        first = np.searchsorted(f, lower[c], "left")  # ranks the float window holds: first..last
        last = np.searchsorted(f, upper[c], "right") - 1
        scale = (len(q) - 1) / (len(f) - 1)
        lower[c] = q[int(round(first * scale))]
        upper[c] = q[int(round(max(first, last) * scale))]
    return lower, upper


def quantize_filter(float_path, out_path, calibration: np.ndarray, holdout: np.ndarray, *, mode: str = "int8",
                    per_channel: bool = True, latency_samples: int = 300) -> QuantizeReport:
    """Quantise the float filter at ``float_path`` into ``out_path`` (see the module's docstring);
    ``calibration`` sets the activation ranges and the windows, ``holdout`` (never seen by the
    calibration) measures the agreement."""
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from edgesieve.runtime.onnx_filter import OnnxFilter

    check_mode(mode)
    float_filter = OnnxFilter(float_path)
    calibration, holdout = (_samples(a, float_filter.sample_shape, what) for a, what in
                            ((calibration, "calibration"), (holdout, "held-out")))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(np.array_split(calibration, max(1, len(calibration) // 64)))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"x": batch}

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        quantised = Path(tmp) / "q.onnx"
        if mode == "int8-weights":
            proto = onnx.load(str(float_path))
            if not quantize_conv_weights(proto):
                raise ExportError(f"{float_path} has no convolutions with constant weights to quantise; nothing written")
            onnx.save(proto, str(quantised))
        else:
            root, level = logging.getLogger(), logging.getLogger().level
            root.setLevel(logging.ERROR)  # the quantiser's advice (pre-processing) goes to the root logger
            try:
                quantize_static(str(float_path), str(quantised), Reader(), quant_format=QuantFormat.QDQ,
                                op_types_to_quantize=["Conv"], per_channel=per_channel,
                                activation_type=getattr(QuantType, QUANTIZE_MODES[mode][0]),
                                weight_type=getattr(QuantType, QUANTIZE_MODES[mode][1]))
            except Exception as err:  # onnxruntime's quantiser raises many types for graphs it cannot handle
                raise ExportError(f"{float_path} cannot be quantised to {mode}: {type(err).__name__}: {err}; nothing written") from None
            finally:
                root.setLevel(level)
            proto = onnx.load(str(quantised))
            if not any(n.op_type == "QuantizeLinear" for n in proto.graph.node):
                raise ExportError(f"{float_path} has no convolutions to quantise to {mode}; nothing written")
        lower, upper = _initializer(proto, "lower"), _initializer(proto, "upper")
        ref = float_filter.decide(calibration)
        first_pass = _run(quantised, calibration)
        new_lower, new_upper = rank_preserving_windows(ref.score, ref.predicted, first_pass.score, first_pass.predicted,
                                                       lower, upper)
        for name, values in (("lower", new_lower), ("upper", new_upper)):
            init = next(i for i in proto.graph.initializer if i.name == name)
            init.CopyFrom(numpy_helper.from_array(values.astype(numpy_helper.to_array(init).dtype), name))
        _set_metadata(proto, float_filter, new_lower, new_upper, mode, len(calibration))
        onnx.checker.check_model(proto, full_check=True)
        final = Path(tmp) / "final.onnx"
        onnx.save(proto, str(final))
        q_filter = OnnxFilter(final)  # loads as a filter like any other, or nothing is written
        float_out, q_out = float_filter.decide(holdout), q_filter.decide(holdout)
        report = dict(
            n_calibration=len(calibration), n_holdout=len(holdout),
            keep_agreement=float(np.mean(float_out.keep == q_out.keep)),
            predicted_agreement=float(np.mean(float_out.predicted == q_out.predicted)),
            latency_ms=_batch1_ms(q_filter, holdout, latency_samples),
            float_latency_ms=_batch1_ms(float_filter, holdout, latency_samples),
            windows_moved=int(np.sum(np.isfinite(lower))),
        )
        os.replace(final, out_path)
    return QuantizeReport(path=out_path, size_bytes=out_path.stat().st_size,
                          float_size_bytes=Path(float_path).stat().st_size, **report)


def quantize_conv_weights(proto) -> int:
    """Store every convolution's constant weight as int8 (symmetric, per output channel) and
    rebuild it in the graph as ``Cast(int8 -> float) * scale``; returns how many were quantised.

    >>> import onnx
    >>> from onnx import helper, numpy_helper
    >>> w = np.array([[[[0.5, -1.0]]], [[[2.0, 0.25]]]], np.float32)      # 2 output channels
    >>> graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 1, 2])],
    ...     [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [numpy_helper.from_array(w, "w")])
    >>> proto = helper.make_model(graph)
    >>> quantize_conv_weights(proto)
    1
    >>> q = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    >>> q["w_int8"].reshape(2, 2).tolist(), np.allclose(q["w_scale"].ravel(), [1 / 127, 2 / 127])
    ([[64, -127], [127, 16]], True)
    """
    from onnx import TensorProto, helper, numpy_helper

    initializers = {i.name: i for i in proto.graph.initializer}
    rebuilt = []
    for node in proto.graph.node:
        name = node.input[1] if node.op_type == "Conv" and len(node.input) > 1 else None
        if name not in initializers:  # no constant weight, or one shared with a conv already rebuilt
            continue
        w = numpy_helper.to_array(initializers[name]).astype(np.float32)
        scale = np.abs(w.reshape(len(w), -1)).max(axis=1) / 127
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32).reshape(-1, *[1] * (w.ndim - 1))
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        proto.graph.initializer.remove(initializers.pop(name))
        proto.graph.initializer.extend([numpy_helper.from_array(q, f"{name}_int8"), numpy_helper.from_array(scale, f"{name}_scale")])
        rebuilt += [helper.make_node("Cast", [f"{name}_int8"], [f"{name}_float"], to=TensorProto.FLOAT),
                    helper.make_node("Mul", [f"{name}_float", f"{name}_scale"], [name])]
    nodes = list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(rebuilt + nodes)  # the rebuilt weights first: the graph stays topologically sorted
    return len(rebuilt) // 2


def _samples(x, sample_shape, what: str) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating) or x.ndim < 1 or tuple(x.shape[1:]) != tuple(sample_shape):
        raise ValueError(f"the {what} data must be floating-point samples of shape {tuple(sample_shape)}, got "
                         f"{x.dtype} {tuple(x.shape[1:])}")
    if len(x) < 2:
        raise ValueError(f"the {what} data needs at least 2 samples, got {len(x)}")
    # finiteness after the float32 cast, so that float64 values beyond float32's range fail here
    # with their own message, not later as Infs inside the calibration
    return finite_float32(x, name=f"the {what} data")


def _initializer(proto, name: str) -> np.ndarray:
    from onnx import numpy_helper

    found = [i for i in proto.graph.initializer if i.name == name]
    if not found:
        raise ExportError(f"the quantised graph has no {name!r} thresholds: not an edgesieve DRIP filter")
    return numpy_helper.to_array(found[0]).astype(np.float64)


def _run(path: Path, x: np.ndarray):
    from edgesieve.runtime.onnx_filter import OnnxFilter

    return OnnxFilter(path).decide(x)


def _set_metadata(proto, float_filter, lower, upper, mode: str, n_calibration: int) -> None:
    selector = dict(float_filter.selector)
    selector["thresholds"] = {str(c): [float(lower[c]), float(upper[c])] for c in np.flatnonzero(np.isfinite(lower))}
    updates = {"selector": json.dumps(selector), "quantized": mode, "quantization_calibration_samples": str(n_calibration)}
    for entry in proto.metadata_props:
        if entry.key in updates:
            entry.value = updates.pop(entry.key)
    for key, value in updates.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def _batch1_ms(filt, x: np.ndarray, n: int) -> float:
    """Median milliseconds of one single-sample ``decide`` over ``n`` samples (after a warm-up)."""
    samples = x[: max(1, min(n, len(x)))]
    for s in samples[:10]:
        filt.decide(s[None])
    times = []
    for s in samples:
        t0 = time.perf_counter()
        filt.decide(s[None])
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))
