"""RHO-LOSS (Mindermann et al., "Prioritized Training on Points that are Learnable, Worth
Learning, and Not Yet Learnt", ICML 2022; SPEC section 4): reducible holdout loss = the training
loss under the current model minus the loss under an *irreducible-loss model* trained once on
holdout data; the batch is the top k. Here the irreducible-loss model is a fresh copy of the
model's architecture (parameters re-initialised with the selector's seed) trained at
``calibrate(x_holdout, y_holdout)`` (the online protocol's held-out calibration samples, never
streamed) with Adam for ``il_epochs``; its training time is ``il_train_seconds_`` and the online
runner counts it in wall-clock results. Its weights travel in the state file (JSON, base64)."""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from torch import nn

from edgesieve.devices import to_model_device
from edgesieve.hooks import eval_mode
from edgesieve.selectors.batch.base import BatchSelector, check_buffer
from edgesieve.selectors.batch.picked import top
from edgesieve.selectors.registry import register_selector
from edgesieve.state.files import StateFileError, decode_tensor, encode_tensor


def reducible_losses(logits: torch.Tensor, il_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Training loss minus irreducible loss, per candidate.

    >>> lg = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    >>> il = torch.log(torch.tensor([[0.9, 0.1], [0.5, 0.5]]))
    >>> [round(v, 4) for v in reducible_losses(lg, il, torch.tensor([0, 0])).tolist()]   # -ln .5 + ln .9, -ln .9 + ln .5
    [0.5878, -0.5878]
    """
    ce = nn.functional.cross_entropy
    return (ce(logits, labels, reduction="none") - ce(il_logits, labels, reduction="none")).detach()


def _reinitialise(model: nn.Module) -> None:
    for m in model.modules():
        if m is not model and hasattr(m, "reset_parameters"):
            m.reset_parameters()


@register_selector("rho-loss")
class RhoLossSelector(BatchSelector):
    """RHO-LOSS: the top |B| by training loss minus an irreducible-loss model's loss (trained on holdout)."""

    pick_needs_state = True

    extra_params = {"il_epochs": 30, "il_lr": 1e-3}

    def _check_params(self) -> str:
        if isinstance(self.il_epochs, bool) or not isinstance(self.il_epochs, int) or self.il_epochs < 1:
            raise ValueError(f"il_epochs must be a positive int, got {self.il_epochs!r}")
        if not isinstance(self.il_lr, (int, float)) or not self.il_lr > 0:
            raise ValueError(f"il_lr must be > 0, got {self.il_lr!r}")
        return super()._check_params()

    def calibrate(self, x, y=None) -> "RhoLossSelector":
        if y is None:
            raise ValueError("rho-loss trains its irreducible-loss model on labelled holdout data: "
                             "calibrate(x_holdout, y_holdout) needs the labels (a validation split)")
        super().calibrate(x, y)
        start = time.perf_counter()
        self.il_model_ = self._train_il_model(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y).long())
        self.il_train_seconds_ = time.perf_counter() - start
        return self

    def _train_il_model(self, x: torch.Tensor, y: torch.Tensor) -> nn.Module:
        il = copy.deepcopy(self.model)
        x, y = to_model_device(x, il), to_model_device(y, il)
        with torch.random.fork_rng():  # the user's global random state is left as it was
            torch.manual_seed(self.seed)
            _reinitialise(il)
            for p in il.parameters():
                p.requires_grad_(True)
            opt = torch.optim.Adam(il.parameters(), lr=self.il_lr)
            il.train()
            for _ in range(self.il_epochs):
                for idx in torch.randperm(len(y)).split(32):
                    opt.zero_grad(set_to_none=True)
                    nn.functional.cross_entropy(il(x[idx]), y[idx]).backward()
                    opt.step()
        il.eval()
        for p in il.parameters():
            p.requires_grad_(False)
        return il

    @staticmethod
    def pick(logits, features, labels, k, generator=None, inputs=None):
        raise ValueError("rho-loss needs its irreducible-loss model: use create_selector('rho-loss', model=...)"
                         ".calibrate(x_holdout, y_holdout), not the stateless pick")

    def _fine(self, logits, features, labels, k, inputs):
        check_buffer(logits, features, labels, k)
        with torch.no_grad(), eval_mode(self.il_model_):
            il_logits = self.il_model_(to_model_device(inputs, self.il_model_)).cpu()
        return top(reducible_losses(logits, il_logits, labels), k)

    def _get_state(self) -> dict[str, Any]:
        weights = {k: encode_tensor(v.float()) for k, v in self.il_model_.state_dict().items() if v.is_floating_point()}
        return {**super()._get_state(), "il_model": weights, "il_train_seconds": self.il_train_seconds_}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        il = copy.deepcopy(self.model)
        own = il.state_dict()
        weights = state.get("il_model")
        if not isinstance(weights, dict) or set(weights) != {k for k, v in own.items() if v.is_floating_point()}:
            raise StateFileError("the state's irreducible-loss model does not match the model's architecture")
        il.load_state_dict({**own, **{k: decode_tensor(v, torch.float32).to(own[k].dtype) for k, v in weights.items()}})
        il.eval()
        for p in il.parameters():
            p.requires_grad_(False)
        self.il_model_ = il
        self.il_train_seconds_ = float(state["il_train_seconds"])
