"""How long the realistic-streams evidence takes from scratch on this machine (issue 12, part 5),
measured, and a check that today's runners still compute the committed cells.

Runs the first ``--seeds`` seeds of every evidence grid into an empty folder, as ``edgesieve grid
run`` does (an embedded Ray instance of ``--num-cpus`` CPUs, one grid after another), and times
each grid. The estimate for all of a grid's seeds: the sampled cells' CPU-seconds scaled to the
grid's seeds, spread over the CPUs, plus the grid's fixed cost measured once (Ray's start, worker
start-up, the sample's uneven end: its wall time minus its CPU-seconds over the CPUs). Every
sampled cell is compared with the committed cell of the same name: every metric but the timings
must be equal (a grid whose ``end_point = false`` may lack the whole-split end point).

    OMP_NUM_THREADS=1 python benchmarks/bench_evidence_budget.py            # about 20 minutes
    python benchmarks/bench_evidence_budget.py --tables-only                # the Markdown from the JSON

Writes benchmarks/results/evidence_budget.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from edgesieve.experiments.grid.evidence import EVIDENCE_BUDGET_HOURS as BUDGET_HOURS
from edgesieve.experiments.grid.evidence import ISSUE_12_GRIDS, MACHINE_CPUS

ROOT = Path(__file__).resolve().parents[1]
#: metrics that measure time, which differ from run to run
TIMINGS = {"calibration_seconds", "coarse_ms_per_sample", "fine_ms", "round_ms_mean", "seconds_at_eval",
           "seconds_to_target", "decision_ms_per_point"}
OPTIONAL = {"test_accuracy"}  # the Titan cells' whole-split end point, where a grid skips it


def differences(new: dict, committed: dict, optional: set[str]) -> list[str]:
    """The metrics (timings aside) on which a recomputed cell differs from the committed one.

    >>> differences({"auc": 0.5, "fine_ms": 1.0}, {"auc": 0.5, "fine_ms": 2.0, "test_accuracy": 0.9}, {"test_accuracy"})
    []
    >>> differences({"auc": 0.4}, {"auc": 0.5}, set())
    ['auc']
    """
    keys = (set(new) | set(committed)) - TIMINGS
    return sorted(k for k in keys if not (k in optional and k not in new) and new.get(k) != committed.get(k))


def estimate_hours(wall_s: float, cpu_s: float, sampled: int, full: int, cpus: int) -> float:
    """A grid's wall time for all its seeds: the sample's CPU-seconds scaled to ``full`` seeds over
    ``cpus``, plus its fixed cost once (its wall time beyond its CPU-seconds over the CPUs).

    >>> estimate_hours(wall_s=60.0, cpu_s=100.0, sampled=1, full=20, cpus=2) * 3600
    1010.0
    """
    fixed = max(0.0, wall_s - cpu_s / cpus)
    return (cpu_s * full / sampled / cpus + fixed) / 3600


def evidence_grids() -> list[str]:
    """Issue 12's grids, then the DRIP and Titan grids that share its results folder (the columns
    later issues added to its tables), as RESULTS' budget sentence groups them."""
    from edgesieve.experiments.grid.spec import load_grid

    evidence = load_grid(ROOT / "experiments" / ISSUE_12_GRIDS[0]).out
    others = {p.name: load_grid(p) for p in sorted((ROOT / "experiments").glob("evidence_*.toml")) if p.name not in ISSUE_12_GRIDS}
    later = [name for name, grid in others.items() if grid.protocol in ("drip", "titan") and grid.out == evidence]
    return list(ISSUE_12_GRIDS) + later


def measure(grid_file: Path, scratch: Path, seeds: int, cpus: int) -> dict:
    from edgesieve.experiments.grid.runner import run_grid
    from edgesieve.experiments.grid.spec import load_grid
    from edgesieve.experiments.grid.status import grid_folder

    full = load_grid(grid_file)
    grid = load_grid(grid_file, seeds=list(full.seeds[:seeds]))
    start = time.perf_counter()
    outcome = run_grid(grid, scratch, num_cpus=cpus, progress=False)
    wall = time.perf_counter() - start
    committed_folder = grid_folder(full, None, ROOT)
    skips_end_point = full.protocol == "titan" and not full.titan_grid_settings(full.datasets[0])["end_point"]
    cpu, compared, identical, differing, tasks = 0.0, 0, 0, [], set()
    for cell in grid.cells():
        try:
            new = json.loads(cell.path(scratch).read_text())
        except OSError:
            continue  # a cell that cannot run (an unformable stream) fails as it did in the committed run
        key = (cell.dataset, cell.stream, cell.seed, cell.method if grid.protocol == "titan" else "", new["task_wall_time_s"])
        if key not in tasks:  # a task's cells share its time: count it once
            tasks.add(key)
            cpu += new["task_wall_time_s"] * new.get("threads", 1)
        try:
            old = json.loads(cell.path(committed_folder).read_text())
        except OSError:
            continue
        compared += 1
        diff = differences(new["metrics"], old["metrics"], OPTIONAL if skips_end_point else set())
        identical += not diff and new["config_hash"] == old["config_hash"]
        if diff or new["config_hash"] != old["config_hash"]:
            differing.append({"cell": cell.name, "metrics": diff or ["config hash"],
                              "committed_on": old.get("versions", {}).get("platform"), "recomputed_on": new["versions"]["platform"]})
    return {"grid": grid_file.name, "group": "issue 12" if grid_file.name in ISSUE_12_GRIDS else "later columns",
            "sampled_seeds": len(grid.seeds), "seeds": len(full.seeds), "cells_run": outcome.done,
            "cells_failed": outcome.failed, "cells_skipped": outcome.skipped, "wall_seconds": wall, "cpu_seconds": cpu,
            "estimated_hours": estimate_hours(wall, cpu, len(grid.seeds), len(full.seeds), cpus),
            "compared": compared, "identical": identical, "differing": differing}


def markdown(record: dict) -> str:
    rows = record["grids"]
    first = "the first seed" if record["sampled_seeds"] == 1 else f"the first {record['sampled_seeds']} seeds"
    lines = ["# The realistic-streams evidence from scratch (issue 12, part 5)", "",
             f"`OMP_NUM_THREADS=1 python benchmarks/bench_evidence_budget.py`: {first} of each grid run from scratch into an empty folder, one grid after another, on "
             f"an embedded Ray instance of {record['cpus']} CPUs ({record['machine']}). Estimate for all seeds: the "
             "sampled cells' CPU-seconds scaled to the grid's seeds over the CPUs, plus the grid's fixed cost once (its "
             "measured wall time beyond its CPU-seconds over the CPUs: Ray's start, worker start-up, the sample's uneven "
             "end). Every recomputed cell was compared with the committed one (all metrics but timings).", "",
             "| grid | part of | seeds sampled / all | cells run (failed) | wall s | CPU-s | est. hours, all seeds | identical to committed |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `experiments/{r['grid']}` | {r['group']} | {r['sampled_seeds']} / {r['seeds']} | {r['cells_run']}"
                     f" ({r['cells_failed']}) | {r['wall_seconds']:.0f} | {r['cpu_seconds']:.0f} | {r['estimated_hours']:.2f} | "
                     f"{r['identical']} / {r['compared']} |")
    lines += [""]
    for group, hours in record["hours_by_group"].items():
        lines.append(f"- **{group}**: about {hours:.2f} hours on {record['cpus']} CPUs.")
    total = sum(record["hours_by_group"].values())
    lines += [f"- **everything above**: about {total:.2f} hours; the budget is {BUDGET_HOURS:g} hours.", ""]
    bad = [d for r in rows for d in r["differing"]]
    if not bad:
        return "\n".join(lines + ["Cells that differ from the committed ones: none.", ""])
    hosts = Counter((d["committed_on"] == d["recomputed_on"]) for d in bad)
    lines += [f"Cells that differ from the committed ones: {len(bad)}; {hosts[False]} of them were committed from another "
              f"host (platform {', '.join(sorted({str(d['committed_on']) for d in bad if d['committed_on'] != d['recomputed_on']}))}"
              f"; recomputed on {bad[0]['recomputed_on']}), {hosts[True]} from this one. Torch picks its kernels by the "
              "CPU: on another kind of CPU the last bits differ and SGD amplifies them, so such a cell is an equally valid "
              "draw of the same seed (same stream, same initial weights), not the same numbers. First ones: "
              + "; ".join(f"{d['cell']} ({', '.join(d['metrics'])})" for d in bad[:8]) + ".", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1, help="seeds of each grid to run (its first ones)")
    ap.add_argument("--num-cpus", type=int, default=MACHINE_CPUS)
    ap.add_argument("--grids", default=None, help="comma-separated grid files under experiments/ (default: issue 12's "
                    "and the later columns' grids)")
    ap.add_argument("--scratch", type=Path, default=None, help="the empty folder to run into (default: a temporary one)")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--tables-only", action="store_true", help="rewrite the Markdown from the JSON")
    args = ap.parse_args()
    out_json = args.results / "evidence_budget.json"
    if args.tables_only:
        (args.results / "evidence_budget.md").write_text(markdown(json.loads(out_json.read_text())))
        return
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = args.scratch or Path(tmp)
        if scratch.exists() and any(scratch.iterdir()):
            ap.error(f"--scratch {scratch} is not empty: a from-scratch measurement needs an empty folder")
        names = args.grids.split(",") if args.grids else evidence_grids()
        grids = [measure(ROOT / "experiments" / g, scratch, args.seeds, args.num_cpus) for g in names]
    by_group: dict = {}
    for r in grids:
        by_group[r["group"]] = by_group.get(r["group"], 0.0) + r["estimated_hours"]
    from edgesieve.experiments.grid.cells import versions

    v = versions()
    record = {"sampled_seeds": args.seeds, "cpus": args.num_cpus,
              "machine": f"{os.cpu_count()} cores, {v['cpu']}, torch kernels {v['cpu_capability']}, {v['platform']}",
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
              "grids": grids, "hours_by_group": by_group,
              "fits_issue_12": by_group.get("issue 12", math.inf) <= BUDGET_HOURS}
    args.results.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(record, indent=2) + "\n")
    (args.results / "evidence_budget.md").write_text(markdown(record))
    print(markdown(record))


if __name__ == "__main__":
    main()
