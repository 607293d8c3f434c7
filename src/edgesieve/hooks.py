"""Touching a user's model without leaving a trace: eval mode for the duration of a block
(every module's own mode restored exactly afterwards), and forward-hook captures that are
always removed (``try/finally``)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block; afterwards every module's own mode is back as it was (a
    model with some modules deliberately in eval, e.g. frozen batch norm, stays that way).
    A model already in eval mode, as on a device, is not touched at all.

    >>> m = nn.Sequential(nn.Linear(2, 2), nn.Dropout()); m[1].eval() and None
    >>> with eval_mode(m): m.training, m[1].training
    (False, False)
    >>> m.training, m[1].training
    (True, False)
    """
    modules = list(model.modules())
    modes = [m.training for m in modules]
    if not any(modes):
        yield model
        return
    model.eval()
    try:
        yield model
    finally:
        for module, mode in zip(modules, modes):
            module.training = mode


@contextmanager
def capture(module: nn.Module, what: str = "output") -> Iterator[list]:
    """Collect ``module``'s forward ``output`` (or its first ``input``), detached, on every call
    inside the block; the hook is removed however the block ends.

    >>> lin = nn.Linear(3, 2)
    >>> with capture(lin, "input") as seen: _ = lin(torch.ones(4, 3))
    >>> seen[0].shape, len(lin._forward_hooks)
    (torch.Size([4, 3]), 0)
    """
    if what not in ("output", "input"):
        raise ValueError(f"what must be 'output' or 'input', got {what!r}")
    seen: list = []

    def hook(mod, inputs, output):
        value = output if what == "output" else inputs[0]
        seen.append(value.detach() if isinstance(value, torch.Tensor) else value)

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()
