import pytest


@pytest.fixture
def onnx_filter(device_artifacts):
    """The exported MNIST filter in onnxruntime (device_artifacts: tests/conftest.py)."""
    from edgesieve.runtime import OnnxFilter

    return OnnxFilter(device_artifacts["folder"] / "filter.onnx")
