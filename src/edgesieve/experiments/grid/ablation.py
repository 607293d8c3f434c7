"""The store policy ablation (the own-policy issue): what each design choice of a label-free
balancing store contributes, as paired differences of two store cells that differ in that one
choice (same seed: same stream, same factory model, same initial weights)."""

from __future__ import annotations

import math
from collections import defaultdict

from edgesieve.experiments.statistics import format_difference, minimum_detectable_effect, t_interval

#: (design choice, the policy with it, the policy without it). ``trust_balanced:within=random``
#: is PBRS draw for draw (a test holds it), so pbrs stands for it: every grid that has pbrs and
#: the variant gets the row.
STORE_ABLATION = (
    ("grouping and quotas: balance the predicted classes (PBRS) vs none (reservoir)", "pbrs", "reservoir"),
    ("within a group: replace the least trusted vs a random member", "trust_balanced", "pbrs"),
    ("trust: confidence + prototype agreement vs confidence", "trust_balanced:trust=agreement", "trust_balanced"),
    ("groups corrected by the stored samples' labels (random within)", "trust_balanced:labelled_store=true,within=random",
     "pbrs"),
    ("every arrival's label (CBRS) vs the predicted class (PBRS)", "class_balanced", "pbrs"),
    ("admission: a reservoir of each group's share vs 'not the largest group enters' (labelled store)",
     "trust_balanced:labelled_store=true,within=random,full=reservoir", "trust_balanced:labelled_store=true,within=random"),
    ("admission, no labels at all: a reservoir of each predicted class's share vs PBRS's rule",
     "trust_balanced:within=random,full=reservoir", "pbrs"),
    ("admission: a group at its share competes within itself vs 'not the largest group enters' (labelled store)",
     "trust_balanced:labelled_store=true,within=random,full=quota", "trust_balanced:labelled_store=true,within=random"),
    ("within a group: the more trusted of two random members leaves vs a random member (labelled store, reservoir "
     "admission)", "trust_balanced:labelled_store=true,within=uncertain,full=reservoir",
     "trust_balanced:labelled_store=true,within=random,full=reservoir"),
)


def ablation_table(cells: list[dict], metric: str = "test_accuracy", protocol: str = "store") -> str:
    """Markdown: one row per (data set, stream) and design choice, the paired difference in points."""
    by = _by_method(cells, metric, protocol)
    rows = sorted({(d, s) for d, s, _ in by})
    lines = ["| data set | stream | design choice | n | with − without [95% CI] | MDE | verdict |",
             "|---|---|---|---:|---|---:|---|"]
    for dataset, stream in rows:
        for what, with_it, without in STORE_ABLATION:
            a, b = by.get((dataset, stream, with_it), {}), by.get((dataset, stream, without), {})
            diffs = _paired(a, b)
            if len(diffs) < 2:
                continue
            mean, (low, high) = sum(diffs) / len(diffs), t_interval(diffs)
            words = "helps" if low > 0 else "hurts" if high < 0 else "no effect detected"
            lines.append(f"| {dataset} | {stream} | {what} | {len(diffs)} | {format_difference(mean, (low, high))} | "
                         f"{minimum_detectable_effect(diffs):.1f} | {words} |")
    if len(lines) == 2:
        return f"(no paired {protocol} cells for the ablation yet)"
    return "\n".join(lines)


#: the published label-free balancing stores our policy must beat (SPEC section 4)
LABEL_FREE_RIVALS = ("pbrs", "hus", "hus_validated", "cstu")
OURS = "trust_balanced"


def _paired(a: dict, b: dict) -> list[float]:
    """a - b over the seeds both have (``{seed: value}``), in seed order."""
    return [a[s] - b[s] for s in sorted(set(a) & set(b))]


def _by_method(cells: list[dict], metric: str, protocol: str) -> dict:
    by = defaultdict(dict)
    for c in cells:
        if c["protocol"] == protocol and metric in c["metrics"]:
            by[(c["dataset"], c["stream"], c["method"])][c["seed"]] = 100 * c["metrics"][metric]
    return by


def rival_comparisons(cells: list[dict], metric: str = "test_accuracy", protocol: str = "store") -> list[dict]:
    """Each variant of our policy against the strongest label-free rival of its row (the rival with
    the highest mean: the choice that favours the rivals), paired by seed: ``dataset``, ``stream``,
    ``variant``, ``rival``, ``n``, ``mean``, ``low``, ``high`` and ``closed``, the share of the
    rival-to-CBRS gap it closes (None without CBRS cells, ``nan`` when CBRS is not ahead of the rival)."""
    by = _by_method(cells, metric, protocol)
    out = []
    for dataset, stream in sorted({(d, s) for d, s, _ in by}):
        rivals = {r: by[(dataset, stream, r)] for r in LABEL_FREE_RIVALS if (dataset, stream, r) in by}
        if not rivals:
            continue
        rival = max(rivals, key=lambda r: sum(rivals[r].values()) / len(rivals[r]))
        cbrs = by.get((dataset, stream, "class_balanced"), {})
        ours = sorted(m for d, s, m in by if (d, s) == (dataset, stream) and m.split(":")[0] == OURS)
        for variant in ours:
            a, b = by[(dataset, stream, variant)], rivals[rival]
            diffs = _paired(a, b)
            if len(diffs) < 2:
                continue
            closed = None
            both = sorted(set(a) & set(b) & set(cbrs))
            if both:
                gap = sum(cbrs[s] - b[s] for s in both) / len(both)
                closed = sum(a[s] - b[s] for s in both) / len(both) / gap if gap > 0 else float("nan")
            low, high = t_interval(diffs)
            out.append({"dataset": dataset, "stream": stream, "variant": variant, "rival": rival, "n": len(diffs),
                        "mean": sum(diffs) / len(diffs), "low": low, "high": high, "closed": closed})
    return out


def rival_table(cells: list[dict], metric: str = "test_accuracy", protocol: str = "store") -> str:
    """Markdown: :func:`rival_comparisons`, a row each."""
    lines = ["| data set | stream | our variant | n | strongest label-free rival | − rival [95% CI] | verdict | "
             "gap to CBRS closed |", "|---|---|---|---:|---|---|---|---:|"]
    for r in rival_comparisons(cells, metric, protocol):
        rival = r["rival"]
        words = f"beats {rival}" if r["low"] > 0 else f"loses to {rival}" if r["high"] < 0 else "ties"
        closed = "—" if r["closed"] is None else "no gap" if math.isnan(r["closed"]) else f"{r['closed']:.0%}"
        lines.append(f"| {r['dataset']} | {r['stream']} | `{r['variant']}` | {r['n']} | {rival} | "
                     f"{format_difference(r['mean'], (r['low'], r['high']))} | {words} | {closed} |")
    if len(lines) == 2:
        return f"(no paired {protocol} cells of our policy and its rivals yet)"
    return "\n".join(lines)


#: the policies that could beat CBRS, the label-using reference (the own-policy issue's second target)
AGAINST_CBRS = ("gdumb", "trust_balanced:labelled_store=true,within=random",
                "trust_balanced:labelled_store=true,within=random,full=reservoir",
                "trust_balanced:labelled_store=true,within=uncertain,full=reservoir", "drip")


def versus_comparisons(cells: list[dict], reference: str = "class_balanced", methods=AGAINST_CBRS,
                       metric: str = "test_accuracy", protocol: str = "store") -> list[dict]:
    """Each of ``methods`` against ``reference`` in every row that has both, paired by seed:
    ``dataset``, ``stream``, ``method``, ``n``, ``mean``, ``low``, ``high``, ``mde``."""
    by = _by_method(cells, metric, protocol)
    out = []
    for dataset, stream in sorted({(d, s) for d, s, _ in by}):
        for method in methods:
            diffs = _paired(by.get((dataset, stream, method), {}), by.get((dataset, stream, reference), {}))
            if len(diffs) >= 2:
                low, high = t_interval(diffs)
                out.append({"dataset": dataset, "stream": stream, "method": method, "n": len(diffs),
                            "mean": sum(diffs) / len(diffs), "low": low, "high": high,
                            "mde": minimum_detectable_effect(diffs)})
    return out


def versus_table(cells: list[dict], reference: str = "class_balanced", methods=AGAINST_CBRS,
                 metric: str = "test_accuracy", protocol: str = "store") -> str:
    """Markdown: :func:`versus_comparisons` with the minimum detectable effect, so a tie says how
    small a difference it rules out."""
    lines = [f"| data set | stream | policy | n | − {reference} [95% CI] | MDE | verdict |",
             "|---|---|---|---:|---|---:|---|"]
    for r in versus_comparisons(cells, reference, methods, metric, protocol):
        words = f"beats {reference}" if r["low"] > 0 else f"loses to {reference}" if r["high"] < 0 else "ties"
        lines.append(f"| {r['dataset']} | {r['stream']} | `{r['method']}` | {r['n']} | "
                     f"{format_difference(r['mean'], (r['low'], r['high']))} | {r['mde']:.1f} | {words} |")
    if len(lines) == 2:
        return f"(no paired {protocol} cells against {reference} yet)"
    return "\n".join(lines)


def per_seed_by_row(cells: list[dict], read, protocol: str = "store") -> dict:
    """``{(dataset, stream): [read(cell) per seed]}`` over the cells for which ``read`` gives a
    value (not None): what every method of a seed shares (its stream, its factory model), read once
    per seed."""
    per_seed = {}
    for c in cells:
        value = read(c) if c["protocol"] == protocol else None
        if value is not None:
            per_seed[(c["dataset"], c["stream"], c["seed"])] = value
    rows = defaultdict(list)
    for (dataset, stream, _), value in per_seed.items():
        rows[(dataset, stream)].append(value)
    return rows


def grouping_table(cells: list[dict], protocol: str = "store") -> str:
    """Markdown: how well the label-free stores' grouping (the factory model's predicted class)
    recovers the true classes of the stream: adjusted Rand index and accuracy, mean over seeds
    (each seed's stream and factory model are shared by all its methods; read once per seed)."""
    def read(c):
        sizes = c["metrics"].get("sizes", {})
        return (sizes["predicted_class_ari"], sizes["factory_accuracy_on_stream"]) if "predicted_class_ari" in sizes else None

    rows = per_seed_by_row(cells, read, protocol)
    if not rows:
        return f"(no {protocol} cells with a grouping record yet)"
    lines = ["| data set | stream | seeds | ARI of the predicted classes | factory model's accuracy on the stream |",
             "|---|---|---:|---:|---:|"]
    for (dataset, stream), values in sorted(rows.items()):
        ari, acc = (sum(v[i] for v in values) / len(values) for i in (0, 1))
        lines.append(f"| {dataset} | {stream} | {len(values)} | {ari:.2f} | {acc:.1%} |")
    return "\n".join(lines)
