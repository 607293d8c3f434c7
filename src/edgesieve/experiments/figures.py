"""Figures for the reproduction report (matplotlib, PNG): per-class DRIP-score histograms with
the discard window (the paper's Fig. 2), accuracy versus DPW and versus label noise, and
Grad-CAM overlays of retained and discarded samples."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_figure(fig, out: Path, dpi: int = 110) -> Path:
    """Lay out, write as PNG and release a figure (matplotlib keeps every open figure alive)."""
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def score_histograms(calibration_npz: Path, state_json: Path, classes, out: Path) -> Path:
    """One panel per class: calibration DRIP scores by predicted class, window shaded."""
    data = np.load(calibration_npz)
    thresholds = json.loads(Path(state_json).read_text())["state"]["thresholds"]
    n = len(classes)
    cols = min(5, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for c, ax in enumerate(axes.flat):
        if c >= n:
            ax.axis("off")
            continue
        scores = data["scores"][data["predicted"] == c]
        if scores.size:
            ax.hist(scores, bins=40, color="#4c72b0")
        if str(c) in thresholds:
            lo, hi = thresholds[str(c)]
            ax.axvspan(lo, hi, color="#dd8452", alpha=0.35, label="discard window")
            ax.axvline(lo, color="#dd8452")
            ax.axvline(hi, color="#dd8452")
        else:
            ax.text(0.5, 0.5, "no thresholds\n(points kept)", transform=ax.transAxes, ha="center", va="center")
        ax.set_title(f"{classes[c]} (n={scores.size})", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle("DRIP scores on the calibration set (D2) by predicted class; shaded: [L_lower, L_upper]", fontsize=10)
    return save_figure(fig, out)


def accuracy_versus(xs, series: dict[str, tuple[list, list]], xlabel: str, title: str, out: Path) -> Path:
    """Lines with error bars: ``series[name] = (means, stds)`` over ``xs``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (means, stds) in series.items():
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out)


def gradcam_overlays(x: np.ndarray, heatmaps: np.ndarray, keep: np.ndarray, predicted: np.ndarray, classes, out: Path,
                     n_classes_shown: int = 4, per_side: int = 3) -> Path:
    """Rows: classes; left half retained samples, right half discarded ones; heatmap over input."""
    shown = [c for c in np.unique(predicted) if (keep & (predicted == c)).any() and (~keep & (predicted == c)).any()]
    shown = shown[:n_classes_shown]
    if not shown:
        shown = list(np.unique(predicted)[:n_classes_shown])
    fig, axes = plt.subplots(len(shown), 2 * per_side, figsize=(1.6 * 2 * per_side, 1.7 * len(shown)), squeeze=False)
    for r, c in enumerate(shown):
        for side, mask in enumerate((keep, ~keep)):
            idx = np.flatnonzero(mask & (predicted == c))[:per_side]
            for j in range(per_side):
                ax = axes[r, side * per_side + j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j >= len(idx):
                    ax.axis("off")
                    continue
                _overlay(ax, x[idx[j]], heatmaps[idx[j]])
                if r == 0 and j == 0:
                    ax.set_title("retained" if side == 0 else "discarded", fontsize=9, loc="left")
            axes[r, 0].set_ylabel(str(classes[c]), fontsize=9)
    fig.suptitle("Grad-CAM of D3 samples: retained (left) and discarded (right), by predicted class", fontsize=10)
    return save_figure(fig, out)


def _overlay(ax, sample: np.ndarray, heat: np.ndarray) -> None:
    if sample.ndim == 3:  # (C, H, W) image
        image = sample[0] if sample.shape[0] == 1 else sample.transpose(1, 2, 0)
        ax.imshow(image, cmap="gray")
        ax.imshow(heat, cmap="jet", alpha=0.45)
    else:  # (C, L) signal: heatmap as a background band, first channel on top
        ax.imshow(heat[None, :], aspect="auto", cmap="jet", alpha=0.5, extent=(0, heat.shape[0], -1, 1))
        signal = sample[0]
        scale = max(float(np.abs(signal).max()), 1e-6)
        ax.plot(np.arange(signal.shape[0]), signal / scale, color="black", linewidth=0.5)
