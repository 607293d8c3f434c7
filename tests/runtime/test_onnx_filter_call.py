"""OnnxFilter.decide calls the compiled session under InferenceSession.run (its per-call feed
check costs about 2 us at batch 1): same outputs as the public call, and the public call where an
onnxruntime lacks the inner one."""

import numpy as np
import pytest

from edgesieve.runtime import OnnxFilter
from edgesieve.runtime.onnx_filter import session_call

ort = pytest.importorskip("onnxruntime")


def test_the_inner_call_decides_as_the_public_one(device_artifacts):
    filt = OnnxFilter(device_artifacts["folder"] / "filter.onnx")
    assert filt._run.__self__ is filt.session._sess  # the inner call is the one in use
    x = np.random.default_rng(0).random((33, 1, 28, 28), dtype=np.float32)
    inner = filt.decide(x)
    public = filt.session.run(None, {"x": x})
    for got, expected in zip((inner.score, inner.predicted, inner.keep, inner.reason, inner.probs), public):
        assert np.array_equal(got, expected)


def test_without_the_inner_session_the_public_call_runs():
    class PublicOnly:
        def run(self, outputs, feed, options=None):
            return ["ran"]

    class OddInner:
        _sess = object()  # no run of its own

        def run(self, outputs, feed, options=None):
            return ["ran"]

    for session in (PublicOnly(), OddInner()):
        call = session_call(session)
        assert call.__self__ is session and call(["y"], {"x": 0}, None) == ["ran"]
