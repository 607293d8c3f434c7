"""Which store policy (or online batch method) to ship for a kind of stream, decided from the
committed cells by a rule fixed in advance, so README's guidance is a reading of the evidence,
not a choice made after looking at it.

For each stream and each level of label access a device has (none; the labels of the samples
it keeps, which retraining needs anyway; every arrival's label), the candidates are the policies
that need no more than that and have a complete row (``COMPLETE_N`` paired seeds) against
reservoir on every data set where that stream was measured. The test is deliberately
asymmetric, strict on gains and lenient on harm: a candidate *wins* a row only if its
difference with reservoir survives Holm's adjustment over the whole store table (about one
comparison in twenty "wins" at 95% by chance, and there are hundreds), and it *loses* a row as
soon as the plain 95% interval lies below 0. The rule: fewest losses, then most wins, then the
highest worst-case difference, then the highest mean. Reservoir itself is a candidate (no wins,
no losses), so a policy is shipped only if it wins somewhere and loses nowhere. The "any
stream" row does the same over every (stream, data set) row measured: the default for a device
that does not know its stream. ``random`` is no candidate: it is DRIP's paired arm, a uniform
subset at DRIP's count, which a device cannot know in advance (in distribution it is reservoir).

The online protocol gets the same rule against RS (``last20_accuracy``, at equal rounds; every
batch method trains on labelled arrivals, so there is one level of access).
"""

from __future__ import annotations

from collections import defaultdict

from edgesieve.experiments.grid.beats import COMPLETE_N

RESERVOIR = "reservoir"
NOT_A_DEVICE_POLICY = ("random",)
ACCESS = ("no labels", "labels of the kept samples", "every arrival's label")
ANY_STREAM = "any stream"
#: per protocol: the reference every method is paired with, the levels of label access, the
#: methods that are no candidate, and what a method is called
SETTINGS = {
    "store": {"reference": RESERVOIR, "access": ACCESS, "excluded": NOT_A_DEVICE_POLICY, "what": "policy"},
    "titan": {"reference": "rs", "access": ("labelled arrivals (online training)",), "excluded": (), "what": "method"},
}


def label_access(method: str, class_source: str = "label") -> int:
    """0: the policy reads no label; 1: only the labels of what it stored (``labelled_store``);
    2: the label of every arrival (class-balancing on true classes, the loss of each arrival).

    >>> [label_access(m) for m in ("reservoir", "pbrs", "trust_balanced:labelled_store=true", "class_balanced", "high_loss")]
    [0, 0, 1, 2, 2]
    >>> label_access("class_balanced", class_source="predicted")
    0
    """
    from edgesieve.experiments.capacity import PROTOCOL_POLICIES, parse_policy
    from edgesieve.store.policies import policy_class

    name, params = parse_policy(method)
    if name in PROTOCOL_POLICIES:
        return 2 if name == "high_loss" else 0  # DRIP's score and the entropy read the predicted class only
    cls = policy_class(name)
    if cls.label_free:
        return 1 if params.get("labelled_store") else 0
    return 2 if cls.needs_labels and class_source == "label" else 0


def _rows(records: list[dict], protocol: str, metric: str, complete_n: int) -> dict:
    """{(stream, dataset): {method: record}}: complete rows paired with the protocol's reference."""
    reference = SETTINGS[protocol]["reference"]
    rows: dict = defaultdict(dict)
    for r in records:
        if (r["protocol"] == protocol and r["metric"] == metric and r["reference"] == reference
                and r["method"] != reference and r["n"] >= complete_n and r["ci_low"] is not None):
            rows[(r["stream"], r["dataset"])][r["method"]] = r
    return rows


def _standing(method: str, keys: list, rows: dict, reference: str) -> dict:
    if method == reference:
        return {"method": method, "wins": 0, "losses": 0, "worst": 0.0, "mean": 0.0, "rows": []}
    picked = [rows[k][method] for k in keys]
    diffs = [r["diff_mean"] for r in picked]
    return {"method": method, "wins": sum(_wins(r) for r in picked), "losses": sum(r["ci_high"] < 0 for r in picked),
            "worst": min(diffs), "mean": sum(diffs) / len(diffs), "rows": picked}


def _wins(r: dict) -> bool:
    return r["diff_mean"] > 0 and r.get("holm_p", 1.0) < 0.05


def _rank(s: dict) -> tuple:
    return (s["losses"], -s["wins"], -s["worst"], -s["mean"], s["method"])


def recommendations(records: list[dict], metric: str = "test_accuracy", complete_n: int = COMPLETE_N,
                    class_source: str = "label", protocol: str = "store") -> list[dict]:
    """Per (stream or ``ANY_STREAM``, access level): the ranked candidates' standings and the
    data sets counted.

    >>> rec = lambda d, m, diff: {"protocol": "store", "metric": "test_accuracy", "reference": "reservoir",
    ...     "stream": "iid", "dataset": d, "method": m, "n": 20, "diff_mean": diff, "ci_low": diff - 1, "ci_high": diff + 1,
    ...     "holm_p": 0.01 if abs(diff) > 1 else 0.5}
    >>> records = [rec("har", "pbrs", 3.0), rec("mnist", "pbrs", 0.5), rec("har", "cstu", 5.0), rec("mnist", "cstu", -4.0)]
    >>> first = recommendations(records)[0]
    >>> first["stream"], first["access"], [s["method"] for s in first["ranked"]]
    ('iid', 0, ['pbrs', 'reservoir', 'cstu'])
    """
    settings = SETTINGS[protocol]
    reference = settings["reference"]
    rows = _rows(records, protocol, metric, complete_n)
    access = {m: label_access(m, class_source) if protocol == "store" else 0 for by in rows.values() for m in by}
    streams = sorted({s for s, _ in rows})
    out = []
    for stream in streams + [ANY_STREAM]:
        keys = sorted(k for k in rows if stream in (ANY_STREAM, k[0]))
        for level in range(len(settings["access"])):
            measured = set.intersection(*(set(rows[k]) for k in keys)) if keys else set()
            candidates = [m for m in measured if access[m] <= level and m not in settings["excluded"]]
            standings = [_standing(m, keys, rows, reference) for m in candidates]
            # a method that wins nowhere is not shipped in the reference's place, whatever its point estimates
            ranked = sorted([s for s in standings if s["wins"]] + [_standing(reference, keys, rows, reference)], key=_rank)
            ranked += sorted([s for s in standings if not s["wins"]], key=_rank)
            out.append({"stream": stream, "access": level, "rows": keys, "ranked": ranked, "candidates": len(candidates),
                        "incomplete": len({m for k in keys for m in rows[k]} - measured)})
    return out


def _diffs(standing: dict) -> str:
    """Each data set's difference; ``*`` a win (Holm), ``−`` a loss (95%)."""
    return ", ".join(f"{r['dataset']} {r['diff_mean']:+.1f}{'*' if _wins(r) else '−' if r['ci_high'] < 0 else ''}"
                     for r in standing["rows"])


def _wins_and_losses(standing: dict) -> str:
    """Over many streams: only the rows it wins and loses, and its worst row."""
    def listed(rows):
        return ", ".join(f"{r['dataset']} `{r['stream']}` {r['diff_mean']:+.1f}" for r in rows) or "none"

    wins = [r for r in standing["rows"] if _wins(r)]
    losses = [r for r in standing["rows"] if r["ci_high"] < 0]
    return f"wins: {listed(wins)}; loses: {listed(losses)}; worst row {standing['worst']:+.1f}"


def recommendation_table(records: list[dict], metric: str = "test_accuracy", complete_n: int = COMPLETE_N,
                         protocol: str = "store") -> str:
    """Markdown: a row per stream and access level with the method the rule ships, its difference
    with the reference per data set, and the runner-up."""
    settings = SETTINGS[protocol]
    ref, what = settings["reference"], settings["what"]
    recs = recommendations(records, metric, complete_n, protocol=protocol)
    if not recs:
        return f"(no complete {protocol} rows of {complete_n} seeds yet)"
    lines = [f"| stream | the device has | candidates (left out: rows missing) | ship | wins / losses vs {ref} (rows) | "
             f"its difference with {ref}, points (`*` a win after Holm, `−` a loss at 95%) | runner-up (wins / losses) |",
             "|---|---|---:|---|---|---|---|"]
    for r in recs:
        best = r["ranked"][0]
        second = r["ranked"][1] if len(r["ranked"]) > 1 else None
        runner = f"`{second['method']}` ({second['wins']} / {second['losses']})" if second else "—"
        if best["method"] == ref:
            detail = f"keep {ref}: no {what} wins without losing"
            if r["stream"] == ANY_STREAM and second is not None and second["wins"]:
                detail += f"; the runner-up {_wins_and_losses(second)}"
        else:
            detail = _wins_and_losses(best) if r["stream"] == ANY_STREAM else _diffs(best)
        stream = f"**{r['stream']}**" if r["stream"] == ANY_STREAM else f"`{r['stream']}`"
        lines.append(f"| {stream} | {settings['access'][r['access']]} | {r['candidates']} ({r['incomplete']}) | `{best['method']}` | {best['wins']} / {best['losses']} "
                     f"({len(r['rows'])}) | {detail} | {runner} |")
    return "\n".join(lines)
