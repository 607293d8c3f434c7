"""Mean and standard deviation over runs, the selector-versus-random verdict, and the tables."""

from __future__ import annotations

import json
import math

from edgesieve.experiments.statistics import format_difference, t_interval, verdict
from edgesieve.state.files import atomic_write_text

__all__ = ["PAPER_TABLE_I", "format_table", "mean_std", "summarize", "verdict", "write_summary"]

#: Table I of the DRIP paper (mean over 20 runs): Baseline / All-Data / DRIP / Random accuracy (%)
#: and storage savings (%). Different data sets from ours except MNIST; shown for reference.
PAPER_TABLE_I = {
    "MNIST": (97.8, 98.9, 98.9, 98.2, 39),
    "CIFAR-10": (87.5, 89.1, 89.2, 88.8, 23),
    "Plant Disease": (71.0, 77.5, 77.4, 73.7, 35),
    "Speech Commands": (76.6, 85.6, 85.7, 80.1, 29),
}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value).

    >>> mean_std([1.0, 2.0, 3.0])
    (2.0, 1.0)
    """
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def summarize(records: list[dict], cfg) -> dict:
    out = {"runs": len(records), "baseline": {}, "all_data": {}, "by_dpw": {}}
    for arm in ("baseline", "all_data"):
        for metric in ("acc", "f1"):
            out[arm][metric] = mean_std([100 * r[arm][metric] for r in records])
    for dpw in records[0]["by_dpw"]:
        entries = [r["by_dpw"][dpw] for r in records]
        row = {}
        for arm in ("selector", "random"):
            row[arm] = {m: mean_std([100 * e[arm][m] for e in entries]) for m in ("acc", "f1")}
        for key in ("retention", "savings"):
            row[key] = mean_std([100 * e[key] for e in entries])
        row["bytes_saved"] = mean_std([e["bytes_saved"] for e in entries])
        row["bytes_d3"] = entries[0]["bytes_d3"]
        row["decision_ms_per_point"] = mean_std([e["decision_ms_per_point"] for e in entries])
        row["noisy_label_share_kept"] = mean_std([100 * e["noisy_label_share_kept"] for e in entries])
        row["noisy_label_share_d3"] = mean_std([100 * e["noisy_label_share_d3"] for e in entries])
        diffs = [100 * (e["selector"]["acc"] - e["random"]["acc"]) for e in entries]
        row["selector_minus_random"] = mean_std(diffs)
        row["selector_minus_random_ci95"] = list(t_interval(diffs))
        row["selector_wins"] = sum(d > 0 for d in diffs)
        row["verdict"] = verdict(diffs)
        out["by_dpw"][dpw] = row
    return out


def _pm(pair, digits=2) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def format_table(summary: dict, cfg, note: str = "") -> str:
    name = cfg.selector
    lines = [
        f"**{cfg.dataset}**, {summary['runs']} run(s), test accuracy % (mean ± sample std); "
        f"selector `{name}`; label noise {cfg.label_noise:.0%}"
        + (f"; {note}" if note else ""),
        "",
        f"| DPW | Baseline | All-Data | {name} | Random (same size) | {name} − Random [95% CI] | {name} wins | savings % | bytes saved (of D3) | decision ms/point | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dpw, row in summary["by_dpw"].items():
        lines.append(
            f"| {float(dpw):.0%} | {_pm(summary['baseline']['acc'])} | {_pm(summary['all_data']['acc'])} | "
            f"{_pm(row['selector']['acc'])} | {_pm(row['random']['acc'])} | "
            f"{format_difference(row['selector_minus_random'][0], row['selector_minus_random_ci95'])} | {row['selector_wins']}/{summary['runs']} | {_pm(row['savings'], 1)} | "
            f"{row['bytes_saved'][0]:,.0f} of {row['bytes_d3']:,} | {row['decision_ms_per_point'][0]:.3f} | {row['verdict']} |"
        )
    lines.append("")
    lines.append(
        "Macro-F1 %: baseline " + _pm(summary["baseline"]["f1"]) + ", all-data " + _pm(summary["all_data"]["f1"]) + "; "
        + "; ".join(f"DPW {float(d):.0%}: {name} {_pm(r['selector']['f1'])}, random {_pm(r['random']['f1'])}" for d, r in summary["by_dpw"].items())
    )
    return "\n".join(lines)


def write_summary(folder, cfg, summary: dict, note: str = "") -> None:
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=1))
    atomic_write_text(folder / "table.md", format_table(summary, cfg, note) + "\n")
