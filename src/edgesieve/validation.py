"""Input checks shared by every entry point, so bad input fails here with a clear message
rather than deep inside torch."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from edgesieve.finite import nonfinite_error


def as_batch(
    x,
    name: str = "x",
    *,
    sample_shape: Sequence[int] | None = None,
    min_rank: int = 2,
    allow_empty: bool = False,
) -> torch.Tensor:
    """Return ``x`` as a finite floating tensor of shape (N, ...), or raise a clear error.

    Numpy arrays are accepted and converted without copying. ``sample_shape`` (the shape of
    one sample, without the batch dimension) is checked when given.

    >>> as_batch(np.zeros((2, 1, 4), dtype=np.float32)).shape
    torch.Size([2, 1, 4])
    >>> as_batch(torch.zeros(2, 3), sample_shape=(4,))
    Traceback (most recent call last):
    ...
    ValueError: x has sample shape (3,) but (4,) was expected (full shape (2, 3))
    """
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(
                f"{name} must hold floating-point values, got numpy dtype {x.dtype}; "
                "convert it first (for 8-bit images: x.astype('float32') / 255)"
            )
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got {x.dtype}; "
            "convert it first (for 8-bit images: x.float() / 255)"
        )
    if x.dim() < min_rank:
        raise ValueError(
            f"{name} must have at least {min_rank} dimensions (N, ...), got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}); pass at least one sample")
    if sample_shape is not None and x.shape[1:] != tuple(sample_shape):
        raise ValueError(
            f"{name} has sample shape {tuple(x.shape[1:])} but {tuple(sample_shape)} was expected "
            f"(full shape {tuple(x.shape)})"
        )
    check_finite(x, name)
    return x


def check_finite(x: torch.Tensor, name: str = "x") -> None:
    """Raise ``ValueError`` naming the first offending samples when ``x`` holds NaN or Inf."""
    # A finite sum proves every value finite (NaN and Inf propagate): in torch one reduction is the
    # cheapest check for a single arrival. A sum that overflows is checked exactly.
    if math.isfinite(x.sum().item()):
        return
    finite = torch.isfinite(x)
    if bool(finite.all()):
        return
    bad = (~finite).reshape(x.shape[0], -1).any(dim=1).nonzero().flatten()
    raise nonfinite_error(name, bad.tolist())


def as_labels(y, n: int, name: str = "y", *, n_classes: int | None = None) -> torch.Tensor:
    """Return ``y`` as an int64 tensor of shape (n,), checking dtype, length and range.

    >>> as_labels([0, 2, 1], 3).tolist()
    [0, 2, 1]
    """
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(y)
    elif not isinstance(y, torch.Tensor):
        y = torch.as_tensor(y)
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"{name} must hold integer class indices, got {y.dtype}")
    if y.dim() != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the batch, got {tuple(y.shape)}")
    y = y.long()
    if n and int(y.min()) < 0:
        raise ValueError(f"{name} holds a negative class index ({int(y.min())})")
    if n and n_classes is not None and int(y.max()) >= n_classes:
        raise ValueError(
            f"{name} holds class index {int(y.max())} but the model has only {n_classes} outputs"
        )
    return y
