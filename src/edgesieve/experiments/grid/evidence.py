"""The evidence section of RESULTS.md, from the committed cells of the evidence grids
(``experiments/evidence_*.toml`` run into ``results/evidence``): per protocol, the "where
selection beats random" table and heatmap, what the table shows in plain words (generated
from the verdicts, not written by hand), how much of each grid has run and what it cost."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from edgesieve.experiments.grid.ablation import ablation_table, grouping_table, per_seed_by_row, rival_table, versus_table
from edgesieve.experiments.grid.beats import COMPLETE_N, beats_heatmap, beats_table, count_wins
from edgesieve.experiments.grid.recommend import recommendation_table
from edgesieve.experiments.grid.report import METRICS, aggregate, read_cells
from edgesieve.experiments.grid.spec import REFERENCE, load_grid
from edgesieve.experiments.grid.status import from_scratch_by_dataset, grid_folder, grid_status, remaining_seconds
from edgesieve.experiments.grid.targets import targets_table


STORE_NOTES = [
    "Fairness: every policy's model is retrained from the same initial weights on D1 plus its store for the same "
    "number of optimisation steps (what the configured epochs take on D1 plus a full store), so a policy that keeps "
    "fewer samples (HUS at 0.99, CSTU's per-class quota) does not also train for less. Label-free policies see only "
    "the factory model's softmax on each arrival; `hus_validated` picks its threshold on D2, never on the test split. "
    "Per-arrival cost of each policy against one inference: "
    "[benchmarks/results/store_policies.md](benchmarks/results/store_policies.md).",
]


def coverage(grid_files: list[Path], out: Path, root: Path | None = None) -> list[dict]:
    """For each grid file: cells planned, cells present, and the compute the present ones took
    (the sum of their tasks' wall times, each task counted once, in CPU-seconds of one thread).

    A grid's cells are read from the folder its file names (``out``, relative to ``root``, by
    default the working directory), else from ``out``; a cell counts as present only if it was
    computed with the grid's config (another grid may share the path): the others are
    ``other_config``."""
    out_rows = []
    for path in grid_files:
        grid = load_grid(path)
        folder = grid_folder(grid, out, root)
        rows = grid_status(grid, folder)
        left = remaining_seconds(rows)
        out_rows.append({"grid": path.name, "protocol": grid.protocol, "folder": folder,
                         "planned": sum(r.planned for r in rows), "present": sum(r.present for r in rows),
                         "other_config": sum(r.other_config for r in rows), "cpu_seconds": sum(r.cpu_seconds for r in rows),
                         "cpu_seconds_left": sum(v for v in left.values() if v is not None),
                         "cpu_seconds_from_scratch_by_dataset": from_scratch_by_dataset(rows),
                         "rows_unmeasured": sum(1 for v in left.values() if v is None)})
    return out_rows


#: issue 12: the realistic-streams evidence of both protocols must run in at most this many hours
#: on the project's machine, which has this many cores
EVIDENCE_BUDGET_HOURS, MACHINE_CPUS = 4.0, 2
#: issue 12's evidence as the issue defined it: both protocols, each with its own selectors; the
#: folder's other DRIP and Titan grids add the columns later issues brought to the same tables
ISSUE_12_GRIDS = ("evidence_drip.toml", "evidence_drip_long_tail_seeds.toml", "evidence_drip_sessions.toml",
                  "evidence_titan.toml", "evidence_titan_sessions.toml")
#: where the from-scratch measurement of the evidence is written (benchmarks/bench_evidence_budget.py)
MEASURED_BUDGET = "benchmarks/results/evidence_budget.md"


def budget_sentence(rows: list[dict], out: Path, measured: dict | None = None) -> str | None:
    """Whether issue 12's DRIP and Titan evidence grids (those whose cells live in ``out``) fit the
    wall-time budget. Without ``measured``: their CPU-hours, spent and still to spend, over the
    machine's cores (a lower bound on the wall time: Ray's scaling from 1 to 2 CPUs measured 1.87x,
    not 2). With ``measured`` (the record of ``benchmarks/bench_evidence_budget.py``: a from-scratch
    run of each grid's first seeds, ``hours_by_group``), the verdict is the measurement's, and the
    later columns' hours are added."""
    mine = [r for r in rows if r["protocol"] in ("drip", "titan") and Path(r["folder"]).resolve() == Path(out).resolve()]
    if not mine:
        return None
    own = [r for r in mine if r["grid"] in ISSUE_12_GRIDS] or mine
    spent, left = sum(r["cpu_seconds"] for r in own) / 3600, sum(r["cpu_seconds_left"] for r in own) / 3600
    unmeasured = sum(r["rows_unmeasured"] for r in own)
    grids = ", ".join(f"`{r['grid']}`" for r in own)
    more = f", plus {unmeasured} rows of data sets not measured yet" if unmeasured else ""
    need = f" and need about {left:.1f} more{more}" if left >= 0.05 or unmeasured else " (every cell that can run has run)"
    head = (f"Budget (issue 12: the realistic-streams evidence of both protocols in at most {EVIDENCE_BUDGET_HOURS:g} hours "
            f"on this {MACHINE_CPUS}-core machine): {grids} took {spent:.1f} CPU-hours{need}")
    if measured is not None and "issue 12" in measured.get("hours_by_group", {}):
        return head + _measured(measured, [r for r in mine if r not in own])
    hours = (spent + left) / MACHINE_CPUS
    if hours > EVIDENCE_BUDGET_HOURS:
        verdict = "it does not fit at these sizes"
    elif unmeasured:
        verdict = "it fits so far, with rows still to measure"
    else:
        verdict = "it fits"
    text = f"{head}: at least {hours:.1f} hours of wall time on {MACHINE_CPUS} cores, against {EVIDENCE_BUDGET_HOURS:g}: {verdict}."
    scratch = [r["cpu_seconds_from_scratch_by_dataset"] for r in own]
    if all(v is not None for v in scratch):
        fresh = sum(sum(by_dataset.values()) for by_dataset in scratch) / 3600
        text += (f" From scratch at today's cell costs (the runners now keep freed memory) they would take about "
                 f"{fresh:.1f} CPU-hours, at least {fresh / MACHINE_CPUS:.1f} hours on {MACHINE_CPUS} cores")
        if fresh > EVIDENCE_BUDGET_HOURS * MACHINE_CPUS:
            text += (f": to fit, the evidence must cost at least {1 - EVIDENCE_BUDGET_HOURS * MACHINE_CPUS / fresh:.0%} "
                     "less")
        text += "." + _where_the_hours_go(own)
    return text


def _measured(measured: dict, later: list[dict]) -> str:
    """The measured from-scratch verdict, and what the later columns add."""
    hours = measured["hours_by_group"]
    own = hours["issue 12"]
    verdict = "it fits" if own <= EVIDENCE_BUDGET_HOURS else "it does not fit at these sizes"
    compared = sum(g["compared"] for g in measured["grids"])
    identical = sum(g["identical"] for g in measured["grids"])
    other_host = sum(d.get("committed_on") != d.get("recomputed_on") for g in measured["grids"] for d in g["differing"])
    if identical == compared:
        same = "; every recomputed cell equal to the committed one but for timings"
    else:
        same = (f"; {identical} of {compared} recomputed cells equal to the committed ones but for timings, "
                f"{other_host} of the {compared - identical} others committed from another host, see there")
    text = (f", as they were computed over several sittings (older cells before the runners kept freed memory or shared a "
            f"seed's baseline). Measured from scratch with today's runners ([{MEASURED_BUDGET}]({MEASURED_BUDGET}): "
            f"{_first_seeds(measured['sampled_seeds'])} of each grid on {measured['cpus']} CPUs, scaled to its seeds{same}"
            f"): about {own:.1f} hours of wall time, against {EVIDENCE_BUDGET_HOURS:g}: {verdict}.")
    if later and "later columns" in hours:
        names = ", ".join(f"`{r['grid']}`" for r in later)
        text += (f" The columns later issues added to the Titan tables ({names}: the rivals and our own policy) add about "
                 f"{hours['later columns']:.1f} hours, {own + hours['later columns']:.1f} in all.")
    return text


def _first_seeds(n: int) -> str:
    return "the first seed" if n == 1 else f"the first {n} seeds"


def _where_the_hours_go(rows: list[dict]) -> str:
    """Per data set, the from-scratch CPU-hours of each protocol, largest first."""
    hours = defaultdict(lambda: defaultdict(float))
    for r in rows:
        for dataset, seconds in r["cpu_seconds_from_scratch_by_dataset"].items():
            hours[dataset][r["protocol"]] += seconds / 3600
    order = sorted(hours, key=lambda d: -sum(hours[d].values()))
    parts = [f"{d} {sum(hours[d].values()):.1f} (" + ", ".join(
        f"{p.upper() if p == 'drip' else p.capitalize()} {h:.1f}" for p, h in sorted(hours[d].items())) + ")" for d in order]
    return " Where those CPU-hours go: " + "; ".join(parts) + "."


def _shown(folder: Path, root: Path | None) -> str:
    """A folder as RESULTS.md names it: relative to the repository's root where it lies inside."""
    try:
        return str(folder.relative_to(Path(root or Path.cwd()).resolve()))
    except ValueError:
        return str(folder)


def plain_findings(records: list[dict], protocol: str, metric: str) -> list[str]:
    """Sentences the table supports: which method beats the reference where, how many losses and
    ties, and the typical minimum detectable effect. Only complete rows (``COMPLETE_N`` seeds) count."""
    rows = [r for r in records if r["protocol"] == protocol and r["metric"] == metric and r["ci_low"] is not None
            and r["n"] >= COMPLETE_N and r["method"] not in ("baseline", "all_data")]  # arms, not selectors
    if not rows:
        return [f"No row has its {COMPLETE_N} seeds yet."]
    ref = rows[0]["reference"]
    verdicts = defaultdict(int)
    for r in rows:
        verdicts["beats" if r["ci_low"] > 0 else "loses" if r["ci_high"] < 0 else "ties"] += 1
    lines = [f"{len(rows)} comparison{'s' if len(rows) != 1 else ''} with {ref}: {verdicts['beats']} beat it, {verdicts['ties']} tie, "
             f"{verdicts['loses']} lose (95% intervals; {sum(1 for r in rows if r.get('holm_p', 1) < 0.05 and r['diff_mean'] > 0)} "
             f"wins survive Holm's adjustment). Median minimum detectable effect: "
             f"{statistics.median(r['mde'] for r in rows if r['mde'] is not None):.1f} points."]
    wins = {m: w for m, w in count_wins(records, protocol, metric, min_n=COMPLETE_N).items() if m not in ("baseline", "all_data")}
    strong = [(m, s, ds) for m, by_stream in wins.items() for s, ds in by_stream.items() if len(ds) >= 2]
    if strong:
        lines.append("Beats " + ref + " on at least 2 data sets of one stream: " + "; ".join(
            f"**{m}** on `{s}` ({', '.join(sorted(ds))})" for m, s, ds in sorted(strong)) + ".")
    else:
        lines.append(f"No method beats {ref} on 2 or more data sets of any one stream (of the complete rows; see coverage).")
    for m, by_stream in sorted(wins.items()):
        singles = [f"`{s}` ({ds[0]})" for s, ds in sorted(by_stream.items()) if len(ds) == 1]
        if singles:
            lines.append(f"{m} beats {ref} on one data set only: " + ", ".join(singles) + ".")
    return lines


def store_method_groups(methods: list[str]) -> list[tuple[str, list[str]]]:
    """The store table's column groups: policies that read every arrival's label, and label-free
    ones (the model's predicted class; ``labelled_store`` variants read the label of what they
    keep, as retraining must anyway)."""
    from edgesieve.experiments.capacity import PROTOCOL_POLICIES, parse_policy
    from edgesieve.store.policies import policy_class

    def label_free(method: str) -> bool:
        name, _ = parse_policy(method)
        return name not in PROTOCOL_POLICIES and policy_class(name).label_free

    groups = [("Policies that read every arrival's label (or DRIP's score)", [m for m in methods if not label_free(m)]),
              ("Label-free on arrival (the factory model's predicted class; `labelled_store=true`: the label of a "
               "stored sample)", [m for m in methods if label_free(m)])]
    return [(t, g) for t, g in groups if g]


def _capacities(cells: list[dict]) -> str:
    """`` (10% of the stream; fsdd 25%)``: the store cells' capacities, the most common first."""
    from collections import Counter

    by_dataset = {c["dataset"]: c["config"].get("capacity") for c in cells if c["protocol"] == "store"}
    if not by_dataset:
        return ""
    common = Counter(by_dataset.values()).most_common(1)[0][0]
    others = [f"{d} {v:.0%}" for d, v in sorted(by_dataset.items()) if v != common]
    return f" ({common:.0%} of the stream" + ("; " + ", ".join(others) if others else "") + ")"


def store_sizes_table(cells: list[dict]) -> str:
    """Markdown: the sizes behind each store row (pool, factory data D1, calibration data D2, the
    stream's arrivals, the store's capacity, the retraining's optimisation steps), mean over the
    seeds, read once per seed (every method of a seed shares them)."""
    def read(c):
        sizes = c["metrics"].get("sizes", {})
        return (c["config"].get("pool"), sizes) if "capacity" in sizes else None

    rows = per_seed_by_row(cells, read)
    if not rows:
        return "(no store cells with sizes yet)"
    lines = ["| data set | stream | seeds | pool | D1 | D2 | arrivals | store M | steps |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (dataset, stream), values in sorted(rows.items()):
        pool = {p for p, _ in values}
        mean = {k: sum(s[k] for _, s in values) / len(values) for k in ("d1", "d2", "d3", "capacity", "steps")}
        lines.append(f"| {dataset} | {stream} | {len(values)} | "
                     f"{'whole training set' if pool == {None} else ', '.join(f'{p:,}' for p in sorted(pool, key=str))} | "
                     + " | ".join(f"{mean[k]:,.0f}" for k in ("d1", "d2", "d3", "capacity", "steps")) + " |")
    return "\n".join(lines)


def store_tables(records: list[dict], metric: str = "test_accuracy") -> list[str]:
    """The store protocol's beats tables, label-using and label-free policies apart."""
    selectors = sorted({r["method"] for r in records if r["protocol"] == "store"} - {REFERENCE["store"]})
    lines = []
    for title, group in store_method_groups(selectors):
        lines += [f"{title}:", "", beats_table(records, "store", metric, group), ""]
    return lines


def protocol_tables(records: list[dict], protocol: str, metric: str) -> list[str]:
    """The "where selection beats" tables of one protocol (the store's split by label access)."""
    selectors = sorted({r["method"] for r in records if r["protocol"] == protocol} - {"baseline", "all_data"})
    if protocol == "store" and selectors:
        return store_tables(records, metric)
    return [beats_table(records, protocol, metric, selectors or None), ""]


def own_folder_section(folder: Path, grid_file: Path, protocol: str) -> list[str]:
    """The tables of a grid whose cells have a folder of their own (their config differs from the
    main grids': a store at another capacity, DRIP at another recipe; the cell paths do not say
    which)."""
    cells = read_cells(folder / protocol) if (folder / protocol).exists() else []
    records = aggregate(cells) if cells else []
    metric = METRICS[protocol][0]
    if protocol == "store":
        title = f"Storage with a capacity{_capacities(cells)}"
    else:
        title = f"{protocol.upper()} protocol, `experiments/{grid_file.name}` (its own folder)"
    lines = [f"### {title}: where selection beats {REFERENCE[protocol]} ({metric})", ""]
    if not records:
        return lines + [f"No cell has run yet: `edgesieve grid run experiments/{grid_file.name}` (resumable).", ""]
    lines += protocol_tables(records, protocol, metric)
    return lines + ["What it shows:", ""] + [f"- {s}" for s in plain_findings(records, protocol, metric)] + [""]


def evidence_section(out: Path, grid_files: list[Path], figure_prefix: str = "results/evidence/",
                     root: Path | None = None, measured_budget: dict | None = None) -> list[str]:
    """Markdown lines of the section (figures written next to the cells); a grid file's own
    ``out`` is read relative to ``root`` (default: the working directory); ``measured_budget``:
    the from-scratch measurement of the evidence (see :func:`budget_sentence`)."""
    out = Path(out)
    cells = [c for p in ("titan", "drip", "store") if (out / p).exists() for c in read_cells(out / p)]
    records = aggregate(cells) if cells else []
    lines = []
    titles = {"titan": "Titan online protocol", "drip": "DRIP storage protocol",
              "store": "Storage with a capacity" + _capacities(cells)}
    for protocol in ("titan", "drip", "store"):
        metric = METRICS[protocol][0]
        lines += [f"### {titles[protocol]}: where selection beats {REFERENCE[protocol]} ({metric})", ""]
        lines += protocol_tables(records, protocol, metric)
        heat = beats_heatmap(records, protocol, metric, out / f"beats_{protocol}.png") if records else None
        if heat is not None:
            lines += [f"![{protocol} heatmap]({figure_prefix}{heat.name})", ""]
        lines += ["What it shows:", ""] + [f"- {s}" for s in plain_findings(records, protocol, metric)] + [""]
        if protocol == "titan":
            lines += ["Which batch method to ship for my stream, by the store section's rule fixed in advance "
                      "(`edgesieve.experiments.grid.recommend`), against RS at equal rounds (selection's cost in "
                      "seconds: the wall-clock section): of the methods with a complete row on every data set measured "
                      "for that stream, the fewest losses (95%), then the most wins (after Holm), then the best worst "
                      "row; a method that wins nowhere is not shipped in RS's place. Candidates: the methods complete on "
                      "those rows; left out: the methods that lack some of them (they may still run).", "",
                      recommendation_table(records, metric, protocol="titan"), ""]
        if protocol == "store":
            lines += ["Which policy to ship for my stream, by a rule fixed in advance (`edgesieve.experiments.grid.recommend`): "
                      "of the policies that need no more labels than the device has and have a complete row on every "
                      "data set measured for that stream, the one with the fewest losses to reservoir (95% interval "
                      "below 0), then the most wins (surviving Holm's adjustment over the whole table), then the best "
                      "worst row; a policy that wins nowhere is not shipped in reservoir's place. `random` (DRIP's arm "
                      "at DRIP's count) is no candidate. \"any stream\": the same over every row measured.", "",
                      recommendation_table(records, metric), ""]
            lines += STORE_NOTES + ["", "Ablation: what each design choice of a label-free balancing store contributes "
                                    "(paired by seed; the two policies differ in that choice only):", "",
                                    ablation_table(cells, metric), "",
                                    "Our policy against the strongest label-free rival of each row (paired by seed):", "",
                                    rival_table(cells, metric), "",
                                    "The own-policy targets, per variant (complete rows of 20 seeds; a data set "
                                    "counts when the 95% interval excludes 0 in our favour):", "",
                                    targets_table(cells, metric), "",
                                    "With labels: the label-using stores against CBRS (paired by seed; MDE: the "
                                    "smallest difference the row's seeds would detect at 80% power):", "", versus_table(cells, metric=metric), "",
                                    "How well the label-free grouping (the factory model's predicted class) recovers the "
                                    "stream's true classes:", "", grouping_table(cells), "",
                                    "Sizes of each row (mean over its seeds; a pool: the row's data come from that many "
                                    "training images, so that its stream is about as long as the long-tailed ones):", "", store_sizes_table(cells), ""]
    for path in grid_files:  # grids with cells of their own (another capacity or recipe): their tables too
        grid = load_grid(path)
        if grid.protocol in ("store", "drip") and grid_folder(grid, out, root).resolve() != out.resolve():
            lines += own_folder_section(grid_folder(grid, out, root), path, grid.protocol)
    rows = coverage(grid_files, out, root)
    lines += ["Coverage and compute (CPU-seconds: the sum of the cells' task wall times, one thread each; a cell counts "
              "once it was computed with its grid's config; left: each row's missing cells at the median cost of a "
              "cell of its data set in that grid (of the cells run since the runners keep freed memory, once there are "
              "5 such tasks), `edgesieve grid status` per row; unmeasured: rows of a data set "
              "with no cell in that grid yet; grids that share cells count them in each):", "",
              "| grid | protocol | cells present / planned | CPU-seconds | CPU-hours | CPU-hours left (est.) |",
              "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        folder = Path(row["folder"]).resolve()
        where = "" if folder == Path(out).resolve() else f" (cells in `{_shown(folder, root)}`)"
        unmeasured = f" + {row['rows_unmeasured']} rows unmeasured" if row["rows_unmeasured"] else ""
        lines.append(f"| `experiments/{row['grid']}`{where} | {row['protocol']} | {row['present']} / {row['planned']} | "
                     f"{row['cpu_seconds']:.0f} | {row['cpu_seconds'] / 3600:.2f} | {row['cpu_seconds_left'] / 3600:.2f}{unmeasured} |")
    budget = budget_sentence(rows, out, measured_budget)
    if budget:
        lines += ["", budget]
    foreign = [f"`{r['grid']}` {r['other_config']}" for r in rows if r["other_config"]]
    if foreign:
        lines += ["", "Cells at a grid's paths computed with another config (not counted above; `grid run` refuses "
                  "to overwrite them): " + ", ".join(foreign) + "."]
    return lines + [""]
