"""Export a calibrated filter to ONNX, validated against PyTorch on export."""

from edgesieve.export.onnx_export import ExportError, ExportReport, export_drip_onnx

__all__ = ["ExportError", "ExportReport", "export_drip_onnx"]
