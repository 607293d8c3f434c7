"""``edgesieve grid report``: aggregate a grid's cells into paired comparisons with the reference
method (random for storage, RS for online), per protocol, data set and stream."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from edgesieve.experiments.grid.beats import beats_heatmap, beats_table
from edgesieve.experiments.grid.spec import REFERENCE
from edgesieve.experiments.statistics import (
    first_reach,
    format_difference,
    holm_adjust,
    minimum_detectable_effect,
    paired_p_value,
    t_interval,
    verdict,
)

#: metrics the report compares, per protocol (accuracies, reported in percentage points)
METRICS = {"drip": ("test_accuracy",), "titan": ("last20_accuracy", "auc", "final_accuracy"), "store": ("test_accuracy",)}


def read_cells(folder: str | Path) -> list[dict]:
    """Every cell JSON under ``folder`` (error records and other files left out)."""
    cells = []
    for path in sorted(Path(folder).rglob("seed_*.json")):
        if path.name.endswith(".error.json"):
            continue
        try:
            cells.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); delete it and rerun the grid") from None
    return cells


def aggregate(cells: list[dict]) -> list[dict]:
    """Records ``{protocol, dataset, stream, method, reference, metric, n, mean, std, diff_mean,
    ci_low, ci_high, mde, verdict}``; values in points (x100). A method's difference is paired by
    seed with the reference (only seeds both have); the reference's own row has no difference."""
    groups: dict = defaultdict(lambda: defaultdict(dict))
    for c in cells:
        groups[(c["protocol"], c["dataset"], c["stream"])][c["method"]][c["seed"]] = c["metrics"]
    out = []
    for (protocol, dataset, stream), methods in sorted(groups.items()):
        for method in sorted(methods, key=lambda m: (m != REFERENCE[protocol], m)):
            reference = reference_of(protocol, method)
            ref = methods.get(reference, {})
            by_seed = methods[method]
            for metric in METRICS[protocol]:
                values = [100 * by_seed[s][metric] for s in sorted(by_seed) if metric in by_seed[s]]
                if not values:
                    continue
                n = len(values)
                mean = sum(values) / n
                std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
                row = {"protocol": protocol, "dataset": dataset, "stream": stream, "method": method,
                       "reference": reference, "metric": metric, "n": n, "mean": mean, "std": std,
                       "diff_mean": None, "ci_low": None, "ci_high": None, "mde": None, "p_value": None,
                       "verdict": "reference" if method == reference else f"no {reference} cells to pair with"}
                seeds = sorted(s for s in by_seed if s in ref and metric in by_seed[s] and metric in ref[s])
                if method != reference and seeds:
                    diffs = [100 * (by_seed[s][metric] - ref[s][metric]) for s in seeds]
                    low, high = t_interval(diffs)
                    row.update(n=len(diffs), diff_mean=sum(diffs) / len(diffs), ci_low=_finite(low), ci_high=_finite(high),
                               mde=_finite(minimum_detectable_effect(diffs)), verdict=verdict(diffs, reference),
                               p_value=_finite(paired_p_value(diffs)))
                if protocol == "titan" and metric == METRICS["titan"][0]:
                    row.update(time_to_accuracy(by_seed, ref))
                out.append(row)
    _holm(out)
    return out


def reference_of(protocol: str, method: str) -> str:
    """The method a cell is paired with: random, RS or reservoir; in a DPW sweep of the DRIP
    protocol (``drip:dpw=0.1``) the random arm of the same DPW."""
    _, sep, params = method.partition(":")
    if protocol == "drip" and sep:
        return f"random:{params}"
    return REFERENCE[protocol]


def _holm(records: list[dict]) -> None:
    """Holm-adjusted verdicts across all rows of one protocol and metric (SPEC section 5: about
    one comparison in twenty "wins" by chance at 95%): ``holm_p`` and ``holm_verdict``."""
    families: dict = defaultdict(list)
    for r in records:
        if r["p_value"] is not None:
            families[(r["protocol"], r["metric"])].append(r)
    for rows in families.values():
        for r, p in zip(rows, holm_adjust([r["p_value"] for r in rows])):
            side = "beats" if r["diff_mean"] > 0 else "loses to"
            r["holm_p"] = p
            r["holm_verdict"] = f"{side} {r['reference']}" if p < 0.05 else "within noise after Holm"


def time_to_accuracy(by_seed: dict, ref: dict) -> dict:
    """Rounds and seconds until the smoothed curve first reaches the reference's (RS's)
    ``last20_accuracy`` of the same seed: median over seeds that reach it, and how many do."""
    rounds, seconds, tried = [], [], 0
    for seed, m in by_seed.items():
        if seed not in ref or "curve" not in m:
            continue
        tried += 1
        reached = first_reach(m["curve"], m["seconds_at_eval"], ref[seed]["last20_accuracy"])
        if reached is not None:
            rounds.append(reached[0])
            seconds.append(reached[1])
    median = lambda v: None if not v else sorted(v)[len(v) // 2] if len(v) % 2 else (sorted(v)[len(v) // 2 - 1] + sorted(v)[len(v) // 2]) / 2  # noqa: E731
    return {"rounds_to_rs_level": median(rounds), "seconds_to_rs_level": median(seconds), "reached_rs_level": f"{len(rounds)}/{tried}"}


def _seconds(v) -> str:
    return "—" if v is None else f"{v:.1f} s"


def _finite(v: float):
    return None if v is None or math.isnan(v) else v


def format_report(records: list[dict]) -> str:
    """Markdown: one table per (protocol, data set, stream), a row per method, a column group per metric."""
    lines = []
    groups: dict = defaultdict(list)
    for r in records:
        groups[(r["protocol"], r["dataset"], r["stream"])].append(r)
    for (protocol, dataset, stream), rows in groups.items():
        metrics = [m for m in METRICS[protocol] if any(r["metric"] == m for r in rows)]
        reference = rows[0]["reference"]
        lines += [f"### {protocol} · {dataset} · {stream}", "",
                  f"Paired by seed with {reference}; [95% Student-t interval]; MDE = smallest difference this many seeds "
                  "detect with 80% power (points).", "",
                  "| method | n | " + " | ".join(f"{m} % | − {reference} [95% CI] | MDE" for m in metrics)
                  + (" | to RS's level: median rounds / seconds (seeds reaching it)" if protocol == "titan" else "")
                  + " | verdict (" + metrics[0] + ") |",
                  "|---|---|" + "---|---|---|" * len(metrics) + ("---|" if protocol == "titan" else "") + "---|"]
        for method in dict.fromkeys(r["method"] for r in rows):
            cells, first = [], None
            for metric in metrics:
                r = next((x for x in rows if x["method"] == method and x["metric"] == metric), None)
                if r is None:
                    cells += ["—"] * 3
                    continue
                first = first or r
                diff = "—" if r["diff_mean"] is None else format_difference(r["diff_mean"], (r["ci_low"], r["ci_high"]))
                mde = "—" if r["mde"] is None else f"{r['mde']:.2f}"
                cells += [f"{r['mean']:.2f} ± {r['std']:.2f}", diff, mde]
            if protocol == "titan":
                ttr = next((x for x in rows if x["method"] == method and "reached_rs_level" in x), None)
                cells.append("—" if ttr is None else f"{ttr['rounds_to_rs_level']} rounds / "
                             f"{_seconds(ttr['seconds_to_rs_level'])} ({ttr['reached_rs_level']})")
            lines.append(f"| {method} | {first['n']} | " + " | ".join(cells) + f" | {first['verdict']} |")
        lines.append("")
    return "\n".join(lines)


def difference_figure(records: list[dict], out: Path) -> Path:
    """Each method's paired difference to the reference with its 95% interval, per group and
    on the first metric of the protocol: one panel per (protocol, data set, stream)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgesieve.experiments.figures import save_figure

    groups: dict = defaultdict(list)
    for r in records:
        if r["metric"] == METRICS[r["protocol"]][0] and r["diff_mean"] is not None:
            groups[(r["protocol"], r["dataset"], r["stream"])].append(r)
    n = max(1, len(groups))
    fig, axes = plt.subplots(n, 1, figsize=(6.4, 1.2 + 0.45 * max([len(v) for v in groups.values()] or [1]) * n), squeeze=False)
    for ax, ((protocol, dataset, stream), rows) in zip(axes.flat, groups.items()):
        y = range(len(rows))
        means = [r["diff_mean"] for r in rows]
        lows = [r["diff_mean"] - (r["ci_low"] if r["ci_low"] is not None else r["diff_mean"]) for r in rows]
        highs = [(r["ci_high"] if r["ci_high"] is not None else r["diff_mean"]) - r["diff_mean"] for r in rows]
        ax.errorbar(means, list(y), xerr=[lows, highs], fmt="o", capsize=3)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(list(y), [r["method"] for r in rows], fontsize=8)
        ax.set_title(f"{protocol} · {dataset} · {stream}: {rows[0]['metric']} − {rows[0]['reference']} (points, 95% CI)", fontsize=9)
    return save_figure(fig, out)


def write_report(folder: str | Path) -> tuple[list[dict], Path]:
    """``report.md``, ``report.json`` and ``report.png`` in ``folder``; returns the records."""
    folder = Path(folder)
    records = aggregate(read_cells(folder))
    if not records:
        raise ValueError(f"no cells under {folder}: run `edgesieve grid run ... --out {folder}` first")
    from edgesieve.state.files import atomic_write_text

    atomic_write_text(folder / "report.json", json.dumps(records, indent=1))
    figure = difference_figure(records, folder / "report.png")
    beats = []
    for protocol in sorted({r["protocol"] for r in records}):
        metric = METRICS[protocol][0]
        heat = beats_heatmap(records, protocol, metric, folder / f"beats_{protocol}.png")
        beats += [f"## Where selection beats {REFERENCE[protocol]}: {protocol} protocol, {metric}", "",
                  beats_table(records, protocol, metric), ""] + ([f"![heatmap]({heat.name})", ""] if heat else [])
    atomic_write_text(folder / "report.md", "# Grid report\n\n" + "\n".join(beats) + "\n" + format_report(records)
                      + f"\n![differences]({figure.name})\n")
    return records, folder / "report.md"
