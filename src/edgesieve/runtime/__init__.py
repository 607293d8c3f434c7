"""The torch-free device runtime: numpy, onnxruntime and sqlite3 only."""

from edgesieve.runtime.onnx_filter import OnnxFilter, OnnxFilterError

__all__ = ["OnnxFilter", "OnnxFilterError"]
