"""Grad-CAM heatmaps and DRIP scores: pure functions in ``functional``, the engine in ``GradCAM``."""

from edgesieve.cam import functional
from edgesieve.cam.gradcam import CAMResult, GradCAM
from edgesieve.cam.layers import find_gap_linear_head, resolve_layer

__all__ = ["CAMResult", "GradCAM", "find_gap_linear_head", "functional", "resolve_layer"]
