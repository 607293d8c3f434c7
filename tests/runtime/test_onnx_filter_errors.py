"""What a device user reads when onnxruntime cannot load a filter: an old onnxruntime that lacks a
kernel is told apart from a corrupt file, and the pinned version is the one pyproject.toml pins."""

import re
import tomllib
from pathlib import Path

import pytest

from edgesieve.runtime.onnx_filter import PINNED_ORT, OnnxFilter, OnnxFilterError

ort = pytest.importorskip("onnxruntime")


def test_pinned_onnxruntime_matches_pyproject():
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert f"onnxruntime=={PINNED_ORT}" in project["optional-dependencies"]["runtime"]


def test_a_missing_kernel_names_the_version_not_corruption(tmp_path, monkeypatch):
    path = tmp_path / "filter.onnx"
    path.write_bytes(b"graph")

    def no_kernel(*args, **kwargs):
        raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for Where(16)")

    monkeypatch.setattr(ort, "InferenceSession", no_kernel)
    with pytest.raises(OnnxFilterError, match=re.escape(f"cannot run {path}: it lacks a kernel")) as info:
        OnnxFilter(path)
    assert f"onnxruntime {PINNED_ORT}" in str(info.value) and "corrupt" not in str(info.value)


def test_a_corrupt_file_is_called_corrupt(tmp_path):
    path = tmp_path / "filter.onnx"
    path.write_bytes(b"not a graph")
    with pytest.raises(OnnxFilterError, match="truncated or corrupt"):
        OnnxFilter(path)
