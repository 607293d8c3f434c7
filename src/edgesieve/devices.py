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


def device_probe(model: nn.Module):
    """A function answering :func:`model_device` for ``model`` from its first parameter's (or
    buffer's) own table: one dict lookup per call instead of a walk over the model, which a
    single arrival would pay every time. A replaced tensor (``model.to()`` with parameters
    overwritten on conversion, a new ``nn.Parameter``) is seen; a removed one falls back to the walk.

    >>> m = nn.Linear(2, 2); probe = device_probe(m)
    >>> probe()
    device(type='cpu')
    """
    for module in model.modules():
        for table in (module._parameters, module._buffers):
            for name, tensor in table.items():
                if tensor is not None:
                    return lambda: _probed(table, name, model)
    return lambda: model_device(model)


def _probed(table: dict, name: str, model: nn.Module) -> torch.device:
    tensor = table.get(name)
    return tensor.device if tensor is not None else model_device(model)


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
