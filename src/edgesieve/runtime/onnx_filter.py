"""Run an exported DRIP filter (.onnx) with onnxruntime: no PyTorch anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgesieve.device.decisions import BatchDecision
from edgesieve.finite import finite_float32

_EXPECTED_OUTPUTS = ["score", "predicted", "keep", "reason", "probs"]
#: what `edgesieve export` wrote before the softmax was an output: still runs, but the store's
#: policies that read it (hus, cstu, trust_balanced, high_entropy, high_loss) need it exported again
_LEGACY_OUTPUTS = _EXPECTED_OUTPUTS[:4]
#: the onnxruntime that pyproject.toml's runtime extra pins (older ones lack kernels the filter uses,
#: e.g. 1.30 has no Where(16) for it)
PINNED_ORT = "1.31.1"
#: onnxruntime's names of the types ``edgesieve export`` gives score, predicted, keep and reason
_OUTPUT_TYPES = ["tensor(float)", "tensor(int64)", "tensor(bool)", "tensor(int8)"]


class OnnxFilterError(ValueError):
    """The ONNX file is missing, corrupt, or not an edgesieve filter."""


def session_call(session):
    """The call that runs ``session``: ``(output names, feed, run options) -> outputs``.

    InferenceSession.run checks the feed's names in Python on every call (about 2 us at batch 1,
    where the lifted IMU CNN takes 23); the filter's feed always holds exactly the graph's one
    input, so it calls the compiled session that run wraps. An onnxruntime without it (the
    attribute is not public) gets the public call.
    """
    inner = getattr(session, "_sess", None)
    return inner.run if callable(getattr(inner, "run", None)) else session.run


class OnnxFilter:
    """A filter graph from ``edgesieve export``: ``decide(x)`` on float32 numpy batches.

    ``threads`` sets onnxruntime's intra-op threads (None: its default).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise OnnxFilterError(f"ONNX filter {self.path} does not exist")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            if "NOT_IMPLEMENTED" in str(err):  # a sound graph that this onnxruntime has no kernel for
                raise OnnxFilterError(
                    f"onnxruntime {ort.__version__} cannot run {self.path}: it lacks a kernel the filter uses ({err}); "
                    f"install the version edgesieve pins: pip install 'edgesieve[runtime]' (onnxruntime {PINNED_ORT})"
                ) from err
            raise OnnxFilterError(f"{self.path} is not a loadable ONNX model (truncated or corrupt?): {err}") from err
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("format") != "edgesieve-onnx-filter":
            raise OnnxFilterError(f"{self.path} is an ONNX model but not an edgesieve filter (export one with `edgesieve export`)")
        outputs = [o.name for o in self.session.get_outputs()]
        if outputs not in (_EXPECTED_OUTPUTS, _LEGACY_OUTPUTS):
            raise OnnxFilterError(f"{self.path} has outputs {outputs}, expected {_EXPECTED_OUTPUTS}")
        self.gives_probs = outputs == _EXPECTED_OUTPUTS
        # outputs already of BatchDecision's types need no conversion per call (batch 1 pays every step)
        self._converts = [o.type for o in self.session.get_outputs()][:4] != _OUTPUT_TYPES
        self._outputs = outputs
        self._run = session_call(self.session)
        self.sample_shape = tuple(json.loads(meta["sample_shape"]))
        self.n_classes = int(meta["n_classes"])
        self.selector = json.loads(meta["selector"])
        self.model_fingerprint = meta.get("model_fingerprint")

    def decide(self, x: np.ndarray) -> BatchDecision:
        x = np.asarray(x)
        if x.dtype.kind != "f":  # np.issubdtype's answer, at a tenth of its cost (batch 1 pays every step)
            raise TypeError(f"input must hold floating-point values, got {x.dtype}")
        if x.ndim < 1 or x.shape[1:] != self.sample_shape:
            raise ValueError(f"input has sample shape {tuple(x.shape[1:])}, the filter expects {self.sample_shape}")
        if x.shape[0] == 0:
            raise ValueError("empty batch")
        x = finite_float32(x)  # a NaN would score NaN, which no window holds: dropped without a word
        score, predicted, keep, reason, *rest = self._run(self._outputs, {"x": x}, None)
        if self._converts:
            score, predicted = score.astype(np.float32, copy=False), predicted.astype(np.int64, copy=False)
            keep, reason = keep.astype(bool, copy=False), reason.astype(np.int8, copy=False)
        return BatchDecision(keep=keep, score=score, predicted=predicted, reason=reason, probs=rest[0] if rest else None)
