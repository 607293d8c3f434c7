"""Plain supervised training and evaluation used by the experiments (CPU-friendly, seeded)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from edgesieve.hooks import eval_mode


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
    steps: int | None = None,
) -> nn.Module:
    """Adam on cross-entropy with a cosine learning-rate decay to zero (so the final weights do
    not depend on the noise of the last few steps), shuffled mini-batches from a seeded
    generator; returns the model in eval mode. ``steps``: train for exactly this many
    optimisation steps (passes over x reshuffled as needed) instead of ``epochs`` passes, so
    that a smaller training set does not also mean less training (the capacity mode)."""
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"need matching, non-empty x and y, got {x.shape[0]} and {y.shape[0]} samples")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=lr)
    model.train()
    fixed = steps is not None
    if fixed and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if fixed and (x.shape[0] < 2 or batch_size < 2):
        raise ValueError("training for a number of steps needs batches of at least 2 samples (BatchNorm)")
    total = steps if fixed else epochs * ((x.shape[0] + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))

    def batches():
        epoch = 0
        while fixed or epoch < epochs:  # with steps: as many passes as the steps need
            order = torch.randperm(x.shape[0], generator=gen)
            for i in range(0, x.shape[0], batch_size):
                idx = order[i : i + batch_size]
                if idx.numel() >= 2:  # BatchNorm cannot train on one sample
                    yield idx
            epoch += 1

    with tqdm(total=total, desc=desc, disable=None if progress else True, leave=False, unit="step") as bar:
        for done, idx in enumerate(batches()):
            if fixed and done >= steps:
                break
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    with eval_mode(model):
        return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])


def accuracy_and_macro_f1(predicted: torch.Tensor, y: torch.Tensor, n_classes: int) -> tuple[float, float]:
    """Accuracy and macro-averaged F1 (classes absent from both y and predictions are skipped).

    >>> accuracy_and_macro_f1(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2)
    (0.6666666666666666, 0.6666666666666666)
    """
    confusion = torch.bincount(y * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = confusion.diag().double()
    support, claimed = confusion.sum(1).double(), confusion.sum(0).double()
    denom = support + claimed
    present = denom > 0
    f1 = torch.where(present, 2 * tp / denom.clamp_min(1), 0.0)
    return float(tp.sum() / y.numel()), float(f1[present].mean())
