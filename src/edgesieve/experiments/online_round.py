"""One round of selection in the online protocol, shared by the sequential runner
(``online``) and the pipelined worker (``pipeline``): the selector for a config, one round's
pick, and the timings both record."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from edgesieve.selectors.registry import create_selector, selector_class


@dataclass
class OnlineResult:
    curve: list = field(default_factory=list)  # (round, test accuracy)
    round_seconds: list = field(default_factory=list)
    coarse_ms_per_sample: list = field(default_factory=list)
    fine_ms: list = field(default_factory=list)
    coverage: list = field(default_factory=list)  # pipelined: share of each round's samples examined
    # calibrating the selector before the first round (RHO-LOSS trains its irreducible-loss model
    # there): part of the method's wall-clock cost
    calibration_seconds: float = 0.0

    @property
    def final_accuracy(self) -> float:
        return self.curve[-1][1] if self.curve else float("nan")


def make_selector(cfg, model: nn.Module, feature_layer: str | None = None):
    """The round's selector for ``cfg.method`` (a registered batch selector); a method that
    anneals over the run (InfoBatch) is told the run's length."""
    extra = {"total_rounds": cfg.rounds} if "total_rounds" in selector_class(cfg.method)._param_names() else {}
    return create_selector(cfg.method, model=model, batch=cfg.batch, buffer=cfg.buffer, coarse=cfg.coarse,
                           feature_layer=feature_layer, lambda_rep=cfg.lambda_rep, lambda_div=cfg.lambda_div,
                           class_slots=cfg.class_slots, seed=cfg.seed, coarse_pool=cfg.coarse_pool, **extra)


def select_round(selector, x, y, idx, t: int, cfg, result: OnlineResult, cal: torch.Tensor):
    """One round's selection: dataset indices of the batch and their weights; records the
    stage timings. ``cal``: the held-out samples DRIP's windows are refit on."""
    if selector.coarse_.needs_recalibration and t > 0 and t % cfg.drip_recalibrate_every == 0:
        selector.recalibrate_coarse(x[cal], y[cal])
    d = selector.decide(x[idx], y[idx])
    kept = torch.nonzero(d.keep).flatten()
    if selector.coarse_.name != "none":
        result.coarse_ms_per_sample.append(selector.stage_ms_["coarse"] / len(idx))
    result.fine_ms.append(selector.stage_ms_["fine"])
    return idx[kept], d.weight[kept]
