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


def wallclock_crossover(rows: list[dict], out: Path) -> Path:
    """Titan's wall-clock time-to-accuracy / RS's against selection cost / training cost: the
    measured rows (geometric mean over seeds, 95% interval) and, as lines, what the crossover
    model predicts from each row's rounds ratio (``experiments.wallclock``). Below 1: Titan
    reaches RS's level sooner."""
    from edgesieve.experiments.wallclock import SEQUENTIAL, predicted_ratio

    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    measured = [r for r in rows if r.get("predicted_seconds_ratio") is not None and r["seconds_ratio"]["ratio"] is not None]
    xs = [r["selection_vs_train"] for r in measured]
    grid = np.geomspace(min(xs + [0.05]) / 1.5, max(xs + [10.0]) * 1.5, 200)
    colours = {}
    for r in measured:
        colour = colours.setdefault((r["dataset"], r["v"], r.get("buffer")), f"C{len(colours)}")
        ratio = r["seconds_ratio"]
        low = ratio["ci_low"] if ratio["ci_low"] is not None else ratio["ratio"]
        high = ratio["ci_high"] if ratio["ci_high"] is not None else ratio["ratio"]
        marker = "o" if r["setting"] == SEQUENTIAL else "s"
        ax.errorbar([r["selection_vs_train"]], [ratio["ratio"]], yerr=[[ratio["ratio"] - low], [high - ratio["ratio"]]],
                    fmt=marker, color=colour, capsize=3, markersize=6,
                    label=f"{r['dataset']} / {r['model']}, {r['setting']}, v = {r['v']}"
                          + (f", buffer {r['buffer']}" if r.get("buffer") not in (None, 30) else ""))
        model = [predicted_ratio(r["rounds_ratio"]["ratio"], x, r["setting"], r["pipeline_overhead"]) for x in grid]
        ax.plot(grid, model, color=colour, linewidth=0.9, linestyle="-" if r["setting"] == SEQUENTIAL else "--", alpha=0.7)
    ax.axhline(1.0, color="black", linewidth=1)
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("selection per round / training step (s / t)")
    ax.set_ylabel("wall-clock time to RS's level: Titan / RS")
    ax.set_title("Where Titan pays: below 1. Lines: R (1 + s/t) sequential (solid), R (max(1, s/t) + o) pipelined (dashed)",
                 fontsize=8)
    ax.legend(fontsize=6.5, loc="upper left")
    return save_figure(fig, out, dpi=120)
