"""The store policy ablation (the own-policy issue): what each design choice of a label-free
balancing store contributes, as paired differences of two store cells that differ in that one
choice (same seed: same stream, same factory model, same initial weights)."""

from __future__ import annotations

from collections import defaultdict

from edgesieve.experiments.statistics import format_difference, minimum_detectable_effect, t_interval

#: (design choice, the policy with it, the policy without it)
STORE_ABLATION = (
    ("grouping and quotas: balance the predicted classes (PBRS) vs none (reservoir)", "pbrs", "reservoir"),
    ("within a group: replace the least trusted vs a random member", "trust_balanced", "trust_balanced:within=random"),
    ("trust: confidence + prototype agreement vs confidence", "trust_balanced:trust=agreement", "trust_balanced"),
    ("groups corrected by the stored samples' labels (random within)", "trust_balanced:labelled_store=true,within=random",
     "trust_balanced:within=random"),
    ("every arrival's label (CBRS) vs the predicted class (PBRS)", "class_balanced", "pbrs"),
)


def ablation_table(cells: list[dict], metric: str = "test_accuracy", protocol: str = "store") -> str:
    """Markdown: one row per (data set, stream) and design choice, the paired difference in points."""
    by = defaultdict(dict)
    for c in cells:
        if c["protocol"] == protocol and metric in c["metrics"]:
            by[(c["dataset"], c["stream"], c["method"])][c["seed"]] = 100 * c["metrics"][metric]
    rows = sorted({(d, s) for d, s, _ in by})
    lines = ["| data set | stream | design choice | n | with − without [95% CI] | MDE | verdict |",
             "|---|---|---|---:|---|---:|---|"]
    for dataset, stream in rows:
        for what, with_it, without in STORE_ABLATION:
            a, b = by.get((dataset, stream, with_it), {}), by.get((dataset, stream, without), {})
            seeds = sorted(set(a) & set(b))
            if len(seeds) < 2:
                continue
            diffs = [a[s] - b[s] for s in seeds]
            mean = sum(diffs) / len(diffs)
            low, high = t_interval(diffs)
            words = "helps" if low > 0 else "hurts" if high < 0 else "no effect detected"
            lines.append(f"| {dataset} | {stream} | {what} | {len(diffs)} | {format_difference(mean, (low, high))} | "
                         f"{minimum_detectable_effect(diffs):.1f} | {words} |")
    if len(lines) == 2:
        return f"(no paired {protocol} cells for the ablation yet)"
    return "\n".join(lines)
