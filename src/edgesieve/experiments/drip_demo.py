"""A short DRIP demonstration on real MNIST: the paper's protocol (SPEC section 1) on a subset
of the training set, a few seeds, DRIP beside random selection at the same budget."""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from edgesieve._version import __version__
from edgesieve.experiments.training import accuracy_and_macro_f1, predict, train_classifier
from edgesieve.selectors import DripSelector

ARMS = ("baseline", "all_data", "drip", "random")


@dataclass(frozen=True)
class DemoConfig:
    pool: int = 10_000  # training-set samples used per run (split 40/20/40 into D1/D2/D3)
    runs: int = 3
    dpw: float = 0.25
    epochs: int = 5
    seed: int = 0

    def __post_init__(self):
        if self.runs < 1:
            raise ValueError(f"runs must be at least 1, got {self.runs}")
        if self.pool < 50:
            raise ValueError(f"pool must be at least 50 samples, got {self.pool}")
        if not 0 < self.dpw < 1:
            raise ValueError(f"dpw must be in (0, 1), got {self.dpw}")


def split_indices(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shuffle, then D1 = 40%, D2 = 20%, D3 = the remaining 40%."""
    order = torch.randperm(n, generator=generator)
    n1, n2 = int(0.4 * n), int(0.2 * n)
    return order[:n1], order[n1 : n1 + n2], order[n1 + n2 :]


def run_once(
    x: torch.Tensor,
    y: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    model_factory: Callable[[], nn.Module],
    cfg: DemoConfig,
    seed: int,
    progress: bool = True,
    artifacts: Path | None = None,
) -> dict:
    """One run of the protocol; with ``artifacts`` the baseline model (safetensors) and its
    calibrated DRIP state (JSON) are saved there, ready for ``edgesieve filter`` and ``export``."""
    gen = torch.Generator().manual_seed(seed)
    d1, d2, d3 = split_indices(x.shape[0], gen)
    n_classes = int(max(y.max(), y_test.max())) + 1

    def fit(idx: torch.Tensor, name: str) -> nn.Module:
        torch.manual_seed(seed)  # every arm starts from the same initial weights
        return train_classifier(model_factory(), x[idx], y[idx], epochs=cfg.epochs, seed=seed, progress=progress, desc=name)

    baseline = fit(d1, "baseline")
    selector = DripSelector(baseline, dpw=cfg.dpw).calibrate(x[d2])
    if artifacts is not None:
        from edgesieve.models import save_weights

        save_weights(baseline, Path(artifacts) / "model.safetensors")
        selector.save(Path(artifacts) / "drip.json")
    start = time.perf_counter()
    decision = selector.decide(x[d3])
    decide_s = time.perf_counter() - start
    kept = d3[decision.keep]
    random_kept = d3[torch.randperm(d3.numel(), generator=gen)[: kept.numel()]]

    models = {
        "baseline": baseline,
        "all_data": fit(torch.cat([d1, d3]), "all-data"),
        "drip": fit(torch.cat([d1, kept]), "drip"),
        "random": fit(torch.cat([d1, random_kept]), "random"),
    }
    row = {"seed": seed, "d1": d1.numel(), "d2": d2.numel(), "d3": d3.numel(), "retained": kept.numel()}
    row["savings"] = 1 - kept.numel() / d3.numel()
    row["decision_ms_per_point"] = 1000 * decide_s / d3.numel()
    for arm, model in models.items():
        acc, f1 = accuracy_and_macro_f1(predict(model, x_test), y_test, n_classes)
        row[f"{arm}_acc"], row[f"{arm}_f1"] = acc, f1
    return row


def mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def format_table(rows: list[dict]) -> str:
    """Mean +- sample standard deviation over runs, and whether DRIP beat random."""
    lines = [f"DRIP demo on MNIST, {len(rows)} run(s): test accuracy (%), mean +- std"]
    lines.append(f"{'arm':<10} {'accuracy':>16} {'macro-F1':>16}")
    for arm in ARMS:
        a, sa = mean_std([100 * r[f"{arm}_acc"] for r in rows])
        f, sf = mean_std([100 * r[f"{arm}_f1"] for r in rows])
        lines.append(f"{arm:<10} {a:>9.2f} +- {sa:<4.2f} {f:>9.2f} +- {sf:<4.2f}")
    s, ss = mean_std([100 * r["savings"] for r in rows])
    t, _ = mean_std([r["decision_ms_per_point"] for r in rows])
    lines.append(f"storage savings on D3: {s:.1f}% +- {ss:.1f}; DRIP decision time {t:.3f} ms per point")
    diff = [100 * (r["drip_acc"] - r["random_acc"]) for r in rows]
    d, sd = mean_std(diff)
    verdict = "beats" if d - sd > 0 else ("loses to" if d + sd < 0 else "does not clearly beat")
    lines.append(f"DRIP - random: {d:+.2f} +- {sd:.2f} points: DRIP {verdict} random at the same budget")
    return "\n".join(lines)


def run_demo(cfg: DemoConfig, out: Path | None = None, *, root=None, progress: bool = True) -> list[dict]:
    from edgesieve.data import load_mnist
    from edgesieve.models import MnistCNN

    x_all, y_all = load_mnist("train", root)
    x_test, y_test = load_mnist("test", root)
    pick = torch.randperm(x_all.shape[0], generator=torch.Generator().manual_seed(cfg.seed))[: cfg.pool]
    x, y = x_all[pick], y_all[pick]
    rows = []
    for i in range(cfg.runs):
        artifacts = Path(out) if out is not None and i == 0 else None
        rows.append(run_once(x, y, x_test, y_test, MnistCNN, cfg, seed=cfg.seed + i, progress=progress, artifacts=artifacts))
        if progress:
            print(f"run {i + 1}/{cfg.runs}: drip {100 * rows[-1]['drip_acc']:.2f}%, "
                  f"random {100 * rows[-1]['random_acc']:.2f}%, savings {100 * rows[-1]['savings']:.1f}%", flush=True)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"config": asdict(cfg), "edgesieve": __version__, "torch": torch.__version__, "python": platform.python_version()}
        (out / "config.json").write_text(json.dumps(meta, indent=1))
        (out / "runs.json").write_text(json.dumps(rows, indent=1))
        (out / "table.txt").write_text(format_table(rows) + "\n")
    return rows
