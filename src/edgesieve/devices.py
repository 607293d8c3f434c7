"""Where a user's model lives. The model's forwards run on its own device (a GPU model stays on
the GPU); inputs given on another device are moved there. The selectors' bookkeeping (windows,
class estimators, the candidate buffer, sampling) is a few small tensors per round and runs on the
CPU, so decisions and state files are the same wherever the model is."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

CPU = torch.device("cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither.

    >>> model_device(nn.Linear(2, 2))
    device(type='cpu')
    """
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return CPU


def to_model_device(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """``x`` on the model's device (itself, not a copy, when it is already there).

    >>> x = torch.zeros(2, 2); to_model_device(x, nn.Linear(2, 2)) is x
    True
    """
    device = model_device(model)
    return x if x.device == device else x.to(device)


@contextmanager
def on_cpu(model: nn.Module) -> Iterator[nn.Module]:
    """The model on the CPU inside the block (ONNX export traces there), back on its own device
    afterwards, whatever happens; parameters keep their identity, so an optimiser holding them
    still works.

    >>> m = nn.Linear(2, 2)
    >>> with on_cpu(m): model_device(m)
    device(type='cpu')
    """
    device = model_device(model)
    if device == CPU:
        yield model
        return
    model.to(CPU)
    try:
        yield model
    finally:
        model.to(device)
