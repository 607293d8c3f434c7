"""Figures of the Titan reproduction (matplotlib, PNG): accuracy versus round with the target
line (the paper's Fig. 7), per-sample selection delay per method, memory per stage."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edgesieve.experiments.figures import save_figure  # noqa: E402


def accuracy_versus_round(curves: dict[str, list], target: float, title: str, out: Path) -> Path:
    """``curves``: method -> list over seeds of [(round, accuracy), ...]; mean with a +-1 std band."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for method, runs in curves.items():
        rounds = np.array([r for r, _ in runs[0]])
        acc = 100 * np.array([[a for _, a in run] for run in runs])
        mean, std = acc.mean(0), acc.std(0)
        width = 2.2 if method == "titan" else 1.2
        (line,) = ax.plot(rounds, mean, label=method, linewidth=width)
        ax.fill_between(rounds, mean - std, mean + std, color=line.get_color(), alpha=0.12)
    ax.axhline(100 * target, color="black", linestyle="--", linewidth=1, label="target (RS final)")
    ax.set_xlabel("training round")
    ax.set_ylabel("test accuracy %")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    return save_figure(fig, out, dpi=120)


def delay_per_method(delays: dict[str, tuple[float, float]], title: str, out: Path) -> Path:
    """``delays``: method -> (coarse ms per sample, fine ms per sample), stacked bars."""
    methods = list(delays)
    coarse = np.array([delays[m][0] for m in methods])
    fine = np.array([delays[m][1] for m in methods])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.bar(methods, coarse, label="coarse stage", color="#4c72b0")
    ax.bar(methods, fine, bottom=coarse, label="fine stage (incl. forward pass)", color="#dd8452")
    ax.set_ylabel("selection time per streaming sample (ms)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, out, dpi=120)


def memory_per_stage(rise_mb: dict[str, float], title: str, out: Path) -> Path:
    """Peak resident-memory rise of each stage over the set-up, in MiB."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.bar(list(rise_mb), list(rise_mb.values()), color="#55a868")
    ax.set_ylabel("peak memory rise (MiB)")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=8)
    return save_figure(fig, out, dpi=120)
