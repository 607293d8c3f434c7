"""Export a calibrated filter to ONNX, validated against PyTorch on export."""

from edgesieve.export.lift_1d import lift_1d_to_2d
from edgesieve.export.onnx_export import ExportError, ExportReport, export_drip_onnx

__all__ = ["ExportError", "ExportReport", "export_drip_onnx", "lift_1d_to_2d"]
