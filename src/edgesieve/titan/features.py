"""Where Titan reads a model: the shallow features of its first block (coarse stage) and the
last linear layer (fine stage)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgesieve.hooks import capture, eval_mode

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.LeakyReLU)


class ShallowFeatures:
    """Output of one early layer, computed by stopping the forward pass there (so the
    coarse filter costs a fraction of a full forward). Runs the model in eval mode (batch
    norm must neither use nor update batch statistics of the stream) and restores its mode."""

    class _Stop(Exception):
        pass

    def __init__(self, model: nn.Module, layer: str, pool: int = 1):
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
            raise ValueError(f"pool must be a positive int, got {pool!r}")
        self.model, self.layer_name, self.pool = model, layer, pool
        self.layer = model.get_submodule(layer)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = []

        def hook(module, inputs, output):
            out.append(output)
            raise ShallowFeatures._Stop

        handle = self.layer.register_forward_hook(hook)
        try:
            with eval_mode(self.model):
                self.model(x)
        except ShallowFeatures._Stop:
            pass
        finally:
            handle.remove()
        if not out:
            raise ValueError(f"layer {self.layer_name!r} did not run in the model's forward pass")
        f = pooled(out[0], self.pool)
        if f.dim() == 4 and not f.is_contiguous() and f.is_contiguous(memory_format=torch.channels_last):
            f = f.permute(0, 2, 3, 1)  # flatten in memory order: no copy (distances ignore the order)
        return f.flatten(1)  # (0, D) for an empty batch too


def pooled(f: torch.Tensor, pool: int) -> torch.Tensor:
    """Average over ``pool`` x ``pool`` positions (``pool`` steps of a 1-D signal), the last
    window partial (ceil mode): a feature map ``pool``^2 (or ``pool``) times smaller, so the
    coarse distances cost as much less (``coarse_pool``; benchmarks/bench_coarse_pool.py
    measures how well it keeps the coarse ranking). Flat features pass unchanged.

    >>> pooled(torch.arange(16.0).reshape(1, 1, 4, 4), 2).flatten().tolist()
    [2.5, 4.5, 10.5, 12.5]
    """
    if pool == 1 or f.dim() not in (3, 4):
        return f
    if f.dim() == 3:
        return F.avg_pool1d(f, pool, ceil_mode=True)
    return F.avg_pool2d(f, pool, ceil_mode=True)


def first_activation(model: nn.Module) -> str:
    """Name of the first activation module: the end of the model's first block."""
    for name, module in model.named_modules():
        if isinstance(module, ACTIVATIONS):
            return name
    raise ValueError("no activation module found; name the shallow-feature layer explicitly (feature_layer=...)")


def last_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` (its classifier): the layer whose gradients C-IS uses."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model needs a final nn.Linear layer for last-layer gradient norms")
    return linears[-1]


@torch.no_grad()
def logits_and_features(model: nn.Module, x: torch.Tensor, head: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """One eval-mode forward: logits and the input of ``head`` (the last linear layer); every
    module's mode is restored afterwards and the hook removed."""
    with capture(head, "input") as seen, eval_mode(model):
        logits = model(x)
    return logits, seen[0].reshape(x.shape[0], -1)
