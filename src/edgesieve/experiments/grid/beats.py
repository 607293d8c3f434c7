"""The table users need: **where selection beats random**. Rows: data set x stream; columns:
the protocol's methods; cells: the paired difference to the reference (random / RS) with its
95% interval and a verdict (beats / ties / loses; ``*`` when the verdict survives Holm's
adjustment across the whole table). Built from ``aggregate`` records; a heatmap of the same."""

from __future__ import annotations

from pathlib import Path

from edgesieve.experiments.statistics import format_difference


def _short(r: dict) -> str:
    if r["ci_low"] is None:
        return "n/a"
    word = "beats" if r["ci_low"] > 0 else "loses" if r["ci_high"] < 0 else "ties"
    return word + ("*" if word != "ties" and r.get("holm_p") is not None and r["holm_p"] < 0.05 else "")


def _rows(records: list[dict], protocol: str, metric: str):
    rows = [r for r in records if r["protocol"] == protocol and r["metric"] == metric and r["diff_mean"] is not None]
    keys = list(dict.fromkeys((r["dataset"], r["stream"]) for r in rows))
    methods = sorted({r["method"] for r in rows})
    table = {(r["dataset"], r["stream"], r["method"]): r for r in rows}
    return keys, methods, table


#: seeds a row needs before it counts as a result (issue 12: at least 20 seeds per reported table)
COMPLETE_N = 20


def beats_table(records: list[dict], protocol: str, metric: str, methods: list[str] | None = None) -> str:
    """Markdown table of every (data set, stream) row against the reference; a row with fewer
    than ``COMPLETE_N`` paired seeds is marked *incomplete* (its grid is still running)."""
    keys, found, table = _rows(records, protocol, metric)
    methods = [m for m in (methods or found) if m in found]
    if not keys:
        return f"(no {protocol} cells with {metric})"
    reference = next(iter(table.values()))["reference"]
    head = "| data set | stream | n | MDE | " + " | ".join(methods) + " |"
    lines = [head, "|---|---|---:|---:|" + "---|" * len(methods)]
    for dataset, stream in keys:
        cells = [table.get((dataset, stream, m)) for m in methods]
        present = [c for c in cells if c is not None]
        if not present:
            continue  # none of these methods ran on this row
        mdes = [c["mde"] for c in present if c["mde"] is not None]
        ns = sorted({c["n"] for c in present})
        out = ["—" if c is None else f"{format_difference(c['diff_mean'], (c['ci_low'], c['ci_high']))} **{_short(c)}**"
               for c in cells]
        n_text = "/".join(map(str, ns)) + (" *incomplete*" if min(ns) < COMPLETE_N else "")
        lines.append(f"| {dataset} | {stream} | {n_text} | "
                     f"{(min(mdes) if mdes else float('nan')):.1f}–{(max(mdes) if mdes else float('nan')):.1f} | " + " | ".join(out) + " |")
    lines += ["", f"Cells: {metric} of the method minus {reference}, paired by seed, in points, with the Student-t 95% "
              "interval; **beats** / **loses** when the interval excludes 0, **ties** otherwise; `*` when the verdict "
              "also holds after Holm's adjustment over every cell of this table. MDE: the range over the row's methods "
              "of the smallest difference these seeds detect with 80% power."]
    return "\n".join(lines)


def count_wins(records: list[dict], protocol: str, metric: str, min_n: int = 2) -> dict[str, dict[str, list[str]]]:
    """For each method and stream, the data sets where it beats the reference (interval > 0),
    counting rows of at least ``min_n`` paired seeds."""
    keys, methods, table = _rows(records, protocol, metric)
    wins: dict = {}
    for (dataset, stream, method), r in table.items():
        if r["ci_low"] is not None and r["ci_low"] > 0 and r["n"] >= min_n:
            wins.setdefault(method, {}).setdefault(stream, []).append(dataset)
    return wins


def beats_heatmap(records: list[dict], protocol: str, metric: str, out: Path) -> Path | None:
    """Heatmap of the table: colour = mean difference (points), a dot where the interval excludes 0."""
    keys, methods, table = _rows(records, protocol, metric)
    if not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from edgesieve.experiments.figures import save_figure

    grid = np.full((len(keys), len(methods)), np.nan)
    for i, (d, s) in enumerate(keys):
        for j, m in enumerate(methods):
            r = table.get((d, s, m))
            if r is not None:
                grid[i, j] = r["diff_mean"]
    lim = max(1.0, float(np.nanmax(np.abs(grid))))
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * len(methods), 1.0 + 0.32 * len(keys)))
    im = ax.imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for i, (d, s) in enumerate(keys):
        for j, m in enumerate(methods):
            r = table.get((d, s, m))
            if r is not None and r["ci_low"] is not None and (r["ci_low"] > 0 or r["ci_high"] < 0):
                ax.plot(j, i, "k.", markersize=5)
            if r is not None:
                ax.text(j, i + 0.32, f"{r['diff_mean']:+.1f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(methods)), methods, fontsize=8, rotation=45, ha="right")
    def label(d, s):
        ns = [r["n"] for (dd, ss, _), r in table.items() if (dd, ss) == (d, s)]
        return f"{d} · {s}" + (f" (incomplete: n={min(ns)})" if min(ns) < COMPLETE_N else "")

    ax.set_yticks(range(len(keys)), [label(d, s) for d, s in keys], fontsize=7)
    reference = next(iter(table.values()))["reference"]
    ax.set_title(f"{protocol}: {metric} − {reference} (points); dot: 95% CI excludes 0", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    return save_figure(fig, out)
