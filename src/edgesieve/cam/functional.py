"""Pure Grad-CAM and DRIP-score functions on tensors (no model, no hooks, no state).

Shapes: activations and gradients are (N, K, *positions); a heatmap is (N, *positions);
scores are (N,). ``positions`` is (L,) for 1-D signals and (H, W) for images.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

NORMALIZATIONS = ("none", "max", "minmax")
_INTERPOLATION_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}
_NUMPY_DTYPES = (torch.float32, torch.float64)


def _on_numpy(*tensors: torch.Tensor) -> bool:
    """Whether these CPU tensors are computed in numpy: its small-array calls cost about a
    microsecond, torch's 3-5, which a single arrival on a device would pay several times over.
    Every CPU caller takes the same path, so a sample's score is the same alone or in a batch;
    graphs being traced (ONNX export) and tensors that need gradients stay in torch."""
    if torch._C._is_tracing():  # torch.jit.is_tracing() without its Python frames
        return False
    for t in tensors:
        if not t.is_cpu or t.requires_grad or t.dtype not in _NUMPY_DTYPES:
            return False
    return True


def check_normalize(normalize: str) -> str:
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    return normalize


def gradcam_from_gradients(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM heatmap ReLU(sum_k alpha_k A_k), alpha_k = mean over positions of dy/dA_k.

    A hand-computed case: two channels, two positions.

    >>> a = torch.tensor([[[1.0, 3.0], [2.0, 0.0]]])
    >>> g = torch.tensor([[[1.0, 1.0], [-4.0, 2.0]]])   # alpha = (1, -1)
    >>> gradcam_from_gradients(a, g)
    tensor([[0., 3.]])
    """
    if activations.shape != gradients.shape or activations.dim() < 3:
        raise ValueError(
            "activations and gradients must share one shape (N, K, *positions), got "
            f"{tuple(activations.shape)} and {tuple(gradients.shape)}"
        )
    alpha = gradients.flatten(2).mean(dim=2)
    return cam_from_channel_weights(activations, alpha)


def cam_from_channel_weights(activations: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """ReLU(sum_k w[n, k] * A[n, k]) for per-sample channel weights ``w`` of shape (N, K).

    This is Grad-CAM given alpha, and the exact closed form when the layer feeds global average
    pooling and one linear layer: then alpha[n, k] = W[c_n, k] / Z (Z = number of positions).
    """
    if _on_numpy(activations, weights):
        return torch.from_numpy(cam_from_channel_weights_numpy(activations.numpy(), weights.numpy()))
    n, k = activations.shape[:2]
    positions = activations.shape[2:]
    flat = torch.bmm(weights.reshape(n, 1, k).to(activations.dtype), activations.reshape(n, k, -1))
    return flat.reshape(n, *positions).clamp_min_(0)


def cam_from_channel_weights_numpy(activations: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`cam_from_channel_weights` in numpy (what it computes on CPU).

    >>> cam_from_channel_weights_numpy(np.array([[[1.0, 3.0], [2.0, 0.0]]]), np.array([[1.0, -1.0]]))
    array([[0., 3.]])
    """
    n, k = activations.shape[:2]
    flat = np.matmul(weights.astype(activations.dtype, copy=False).reshape(n, 1, k), activations.reshape(n, k, -1))
    return np.maximum(flat, 0, out=flat).reshape(n, *activations.shape[2:])


def normalize_heatmaps(heatmaps: torch.Tensor, normalize: str) -> torch.Tensor:
    """Per-sample normalisation: ``none``, ``max`` (divide by the map's max) or ``minmax``.

    A map that is flat zero stays zero (no division by zero).

    >>> normalize_heatmaps(torch.tensor([[1.0, 3.0], [0.0, 0.0]]), "max")
    tensor([[0.3333, 1.0000],
            [0.0000, 0.0000]])
    """
    check_normalize(normalize)
    if normalize == "none":
        return heatmaps
    flat = heatmaps.flatten(1)
    hi = flat.amax(dim=1)
    lo = flat.amin(dim=1) if normalize == "minmax" else torch.zeros_like(hi)
    scale, offset = _scale_and_offset(lo, hi)
    view = (-1,) + (1,) * (heatmaps.dim() - 1)
    return (heatmaps - offset.view(view)) * scale.view(view)


def drip_scores_weighted_numpy(flat: np.ndarray, weights: np.ndarray | None, normalize: str) -> np.ndarray:
    """:func:`drip_scores_weighted` in numpy (what it computes on CPU); a row's sum never
    depends on the other rows (no BLAS gemv), so a sample scores the same alone or in a batch."""
    weighted = flat.mean(axis=1) if weights is None else (flat * weights.astype(flat.dtype, copy=False)).sum(axis=1)
    if normalize == "none":
        return weighted
    hi = flat.max(axis=1)
    lo = flat.min(axis=1) if normalize == "minmax" else np.zeros_like(hi)
    span = hi - lo
    scale = np.where(span > 0, 1.0 / np.maximum(span, np.finfo(span.dtype).tiny), 0.0).astype(flat.dtype)
    return (weighted - lo) * scale


def _scale_and_offset(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    span = hi - lo
    scale = torch.where(span > 0, 1.0 / span.clamp_min(torch.finfo(span.dtype).tiny), 0.0)
    return scale, lo


def upsample_heatmaps(heatmaps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize (N, *positions) maps to ``size``: linear for 1-D, bilinear for 2-D, trilinear 3-D.

    ``align_corners=False``, as Captum's ``LayerAttribution.interpolate`` and OpenCV do.
    """
    mode = interpolation_mode(heatmaps.dim() - 1, len(size))
    if tuple(heatmaps.shape[1:]) == tuple(size):
        return heatmaps
    return F.interpolate(heatmaps.unsqueeze(1), size=tuple(size), mode=mode, align_corners=False).squeeze(1)


def interpolation_mode(map_rank: int, size_rank: int) -> str:
    if map_rank != size_rank:
        raise ValueError(
            f"cannot upsample a {map_rank}-D heatmap to a {size_rank}-D input; "
            "choose a layer with the input's number of position dimensions or pass upsample=False"
        )
    if map_rank not in _INTERPOLATION_MODES:
        raise ValueError(f"upsampling supports 1-3 position dimensions, got {map_rank}")
    return _INTERPOLATION_MODES[map_rank]


def drip_scores(heatmaps: torch.Tensor) -> torch.Tensor:
    """DRIP score: the mean of each heatmap over its positions (W x H, or T for 1-D signals).

    >>> drip_scores(torch.tensor([[[0.0, 2.0], [4.0, 2.0]]]))
    tensor([2.])
    """
    return heatmaps.flatten(1).mean(dim=1)


@lru_cache(maxsize=64)
def _upsampled_mean_weights_1d(n_in: int, n_out: int) -> torch.Tensor:
    # mean(linear_upsample(h)) is linear in h: its weight for input position i is the mean of
    # the i-th row of the interpolation matrix, found by upsampling the identity.
    eye = torch.eye(n_in, dtype=torch.float64).unsqueeze(0)
    rows = F.interpolate(eye, size=n_out, mode="linear", align_corners=False)
    return rows.mean(dim=2).squeeze(0)


def upsampled_mean_weights(in_size: Sequence[int], out_size: Sequence[int]) -> torch.Tensor:
    """Weights w with ``(h * w).sum() == upsample_heatmaps(h, out_size).mean()`` for any h.

    (Bi/tri)linear interpolation is separable, so w is the outer product of 1-D weights. This
    lets the scoring hot path skip materialising the upsampled map. The weights sum to 1.

    >>> h = torch.rand(1, 7, 7)
    >>> w = upsampled_mean_weights((7, 7), (28, 28))
    >>> torch.allclose((h * w.float()).sum(), upsample_heatmaps(h, (28, 28)).mean(), atol=1e-6)
    True
    """
    return _flat_mean_weights(tuple(int(n) for n in in_size), tuple(int(n) for n in out_size), torch.float64).reshape(
        tuple(in_size)
    )


def position_weights_numpy(in_size: tuple, out_size: tuple | None, dtype) -> np.ndarray | None:
    """The flat position weights :func:`drip_scores_from_raw` scores with (None: a plain mean),
    as a read-only numpy array of ``dtype``."""
    if out_size is None or tuple(out_size) == tuple(in_size):
        return None
    return _flat_mean_weights_numpy(tuple(int(n) for n in in_size), tuple(int(n) for n in out_size), np.dtype(dtype))


@lru_cache(maxsize=64)
def _flat_mean_weights_numpy(in_size: tuple, out_size: tuple, dtype: np.dtype) -> np.ndarray:
    weights = _flat_mean_weights(in_size, out_size, torch.float64).numpy().astype(dtype)
    weights.flags.writeable = False  # shared by every caller
    return weights


@lru_cache(maxsize=64)
def _flat_mean_weights(in_size: tuple, out_size: tuple, dtype: torch.dtype) -> torch.Tensor:
    interpolation_mode(len(in_size), len(out_size))
    weights = torch.ones((), dtype=torch.float64)
    for n_in, n_out in zip(in_size, out_size):
        weights = weights.unsqueeze(-1) * _upsampled_mean_weights_1d(n_in, n_out)
    return weights.flatten().to(dtype)


def drip_scores_from_raw(
    raw: torch.Tensor, *, normalize: str = "none", out_size: Sequence[int] | None = None
) -> torch.Tensor:
    """DRIP scores of raw (un-normalised, layer-resolution) heatmaps, without building the
    normalised or upsampled maps. Equals
    ``drip_scores(upsample_heatmaps(normalize_heatmaps(raw, normalize), out_size))``.
    """
    weights = None
    if out_size is not None and tuple(out_size) != tuple(raw.shape[1:]):
        weights = _flat_mean_weights(tuple(raw.shape[1:]), tuple(int(n) for n in out_size), raw.dtype)
    return drip_scores_weighted(raw.flatten(1), weights, normalize)


def drip_scores_weighted(flat: torch.Tensor, weights: torch.Tensor | None, normalize: str) -> torch.Tensor:
    """DRIP scores of flattened raw maps (N, P) given the position weights of
    :func:`upsampled_mean_weights` (None: plain mean), normalised as ``normalize`` says."""
    check_normalize(normalize)
    if _on_numpy(flat) and (weights is None or _on_numpy(weights)):
        return torch.from_numpy(drip_scores_weighted_numpy(flat.numpy(), None if weights is None else weights.numpy(),
                                                            normalize))
    weighted = flat.mean(dim=1) if weights is None else flat @ weights.to(flat.device, flat.dtype)
    if normalize == "none":
        return weighted
    hi = flat.amax(dim=1)
    lo = flat.amin(dim=1) if normalize == "minmax" else torch.zeros_like(hi)
    scale, offset = _scale_and_offset(lo, hi)
    # the weights sum to one, so normalising then averaging is (mean - lo) * scale
    return (weighted - offset) * scale
