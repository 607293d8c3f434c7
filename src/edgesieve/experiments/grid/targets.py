"""The own-policy issue's targets, checked per variant of our store policy from the committed
cells (complete rows only, ``COMPLETE_N`` seeds), so RESULTS.md says which variant meets which
target instead of leaving the count to the reader:

- label-free: beat the strongest label-free rival of the row on at least 3 data sets of the
  long-tailed stream and 2 of the Dirichlet one, and close at least half of the gap between that
  rival and CBRS (every arrival's label) on at least 2 data sets (counted on the long-tailed
  stream, where the gap is large enough to measure);
- with labels: beat CBRS on at least 2 data sets of one stream.
"""

from __future__ import annotations

import math
from collections import defaultdict

from edgesieve.experiments.grid.ablation import OURS, rival_comparisons, versus_comparisons
from edgesieve.experiments.grid.beats import COMPLETE_N

LONG_TAILED, DIRICHLET = "imbalanced:ratio=100", "dirichlet:alpha=0.1"
#: (label-free: long-tailed wins, Dirichlet wins, half the gap closed), with labels: wins of one stream
NEEDED = {"long": 3, "dirichlet": 2, "half_gap": 2, "beats_cbrs": 2}


def own_policy_targets(cells: list[dict], metric: str = "test_accuracy", protocol: str = "store",
                       complete_n: int = COMPLETE_N) -> list[dict]:
    """Per variant of our policy: the data sets counted for each target, out of the complete rows.

    >>> cells = [{"protocol": "store", "dataset": d, "stream": LONG_TAILED, "method": m, "seed": s,
    ...           "metrics": {"test_accuracy": v + 0.01 * s}}
    ...          for d in ("har", "mnist", "fsdd") for s in range(3)
    ...          for m, v in {"pbrs": 0.60, "class_balanced": 0.70, "trust_balanced:within=random": 0.66}.items()]
    >>> (row,) = own_policy_targets(cells, complete_n=3)
    >>> row["long"], row["half_gap"], row["label_free_met"]
    ((['fsdd', 'har', 'mnist'], 3), (['fsdd', 'har', 'mnist'], 3), False)
    """
    rows = defaultdict(lambda: {"long": ([], 0), "dirichlet": ([], 0), "half_gap": ([], 0), "beats_cbrs": ("", [], 0)})

    def tally(counted, dataset, won):
        """(data sets won, rows counted) with one more row."""
        names, total = counted
        return sorted(names + [dataset]) if won else names, total + 1

    def count(variant, key, dataset, won):
        rows[variant][key] = tally(rows[variant][key], dataset, won)

    for r in rival_comparisons(cells, metric, protocol):
        if r["n"] < complete_n:
            continue
        if r["stream"] in (LONG_TAILED, DIRICHLET):
            count(r["variant"], "long" if r["stream"] == LONG_TAILED else "dirichlet", r["dataset"], r["low"] > 0)
        if r["stream"] == LONG_TAILED and r["closed"] is not None:
            count(r["variant"], "half_gap", r["dataset"], not math.isnan(r["closed"]) and r["closed"] >= 0.5)
    variants = sorted(rows) + sorted({c["method"] for c in cells if c["method"].split(":")[0] == OURS} - set(rows))
    by_stream = defaultdict(lambda: ([], 0))
    for r in versus_comparisons(cells, methods=variants, metric=metric, protocol=protocol):
        if r["n"] >= complete_n:
            by_stream[(r["method"], r["stream"])] = tally(by_stream[(r["method"], r["stream"])], r["dataset"], r["low"] > 0)
    for (variant, stream), (names, total) in by_stream.items():
        if (len(names), total) > (len(rows[variant]["beats_cbrs"][1]), rows[variant]["beats_cbrs"][2]):
            rows[variant]["beats_cbrs"] = (stream, names, total)
    out = []
    for variant in sorted(rows):
        row = {"variant": variant, **rows[variant]}
        row["label_free_met"] = all(len(row[k][0]) >= NEEDED[k] for k in ("long", "dirichlet", "half_gap"))
        row["labels_met"] = len(row["beats_cbrs"][1]) >= NEEDED["beats_cbrs"]
        out.append(row)
    return out


def targets_table(cells: list[dict], metric: str = "test_accuracy", protocol: str = "store") -> str:
    """Markdown: :func:`own_policy_targets`, a row per variant."""
    rows = own_policy_targets(cells, metric, protocol)
    if not rows:
        return f"(no complete {protocol} rows of our policy yet)"

    def wins(pair):
        names, total = pair
        return f"{len(names)} of {total}" + (f" ({', '.join(names)})" if names else "")

    lines = [f"| our variant | long-tailed: beats the strongest label-free rival (need {NEEDED['long']}) | "
             f"Dirichlet: beats it (need {NEEDED['dirichlet']}) | long-tailed: closes ≥ half the gap to CBRS "
             f"(need {NEEDED['half_gap']}) | label-free target | beats CBRS, best stream (need {NEEDED['beats_cbrs']}) | "
             "with-labels target |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        stream, names, total = r["beats_cbrs"]
        cbrs = f"{wins((names, total))} `{stream}`" if total else "—"
        lines.append(f"| `{r['variant']}` | {wins(r['long'])} | {wins(r['dirichlet'])} | {wins(r['half_gap'])} | "
                     f"{'**met**' if r['label_free_met'] else 'not met'} | {cbrs} | "
                     f"{'**met**' if r['labels_met'] else 'not met'} |")
    return "\n".join(lines)
