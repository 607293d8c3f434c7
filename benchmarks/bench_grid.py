"""Grid throughput on Ray: a 16-cell Titan-protocol grid run with 1 and with 2 CPUs on the
embedded instance; cells per hour, the speed-up of 2 CPUs over 1, and Ray's overhead per cell;
and the same cells without Ray, in one process and in two processes side by side, which is the
most two cores of this machine give to any scheduler.

    python benchmarks/bench_grid.py            # writes benchmarks/results/grid.{json,md}

Costs paid once per grid are measured apart: Ray's start and stop, and the grid's fixed cost
(a grid of one cell per CPU: Ray's start, its workers' start and their first imports of torch
and the data set). The overhead per cell is what is left of the grid's wall time after the fixed
cost and the cells' own compute (each cell's compute as the worker measured it):
(wall - fixed - compute / CPUs) / cells. Goal: >= 1.8x on 2 cores, per-cell overhead < 2% of a cell.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgesieve.experiments.grid import load_grid, read_cells, run_grid

RESULTS = Path(__file__).parent / "results"
GRID = dict(protocol="titan", datasets=["mnist"], methods=["titan", "rs"], seeds=8,
            config={"rounds": 150, "v": 100, "eval_every": 75})


def ray_start_stop(num_cpus: int) -> float:
    import ray

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False, _node_ip_address="127.0.0.1")
    ray.shutdown()
    return time.perf_counter() - t0


def timed_grid(num_cpus: int, seeds, **engine) -> tuple[float, list[dict]]:
    grid = load_grid(**{**GRID, "seeds": list(seeds)})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = run_grid(grid, tmp, num_cpus=num_cpus, progress=False, **engine)
        wall = time.perf_counter() - start
        cells = read_cells(tmp)
    assert outcome.done == len(cells) == len(grid.cells()) and not outcome.failed
    return wall, cells


def measure_ray(num_cpus: int) -> dict:
    startup = ray_start_stop(num_cpus)
    # one cell per CPU, short ones: what a grid pays before its first cell can run
    fixed_grid = load_grid(**{**GRID, "methods": ["rs"], "seeds": list(range(100, 100 + num_cpus)), "config": {**GRID["config"], "rounds": 1}})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_grid(fixed_grid, tmp, num_cpus=num_cpus, progress=False)
        fixed = time.perf_counter() - t0 - max(c["task_wall_time_s"] for c in read_cells(tmp))
    wall, cells = timed_grid(num_cpus, range(GRID["seeds"]))
    compute = sum(c["task_wall_time_s"] for c in cells)
    per_cell = compute / len(cells)
    overhead = (wall - fixed - compute / num_cpus) / len(cells)
    return {"engine": "ray", "num_cpus": num_cpus, "cells": len(cells), "wall_s": wall, "ray_start_stop_s": startup,
            "fixed_s": fixed, "cell_compute_s_mean": per_cell, "cells_per_hour": 3600 * len(cells) / wall,
            "overhead_s_per_cell": overhead, "overhead_share_of_cell": overhead / per_cell}


CHILD = """
import json, sys, tempfile, time
from edgesieve.experiments.grid import load_grid, read_cells, run_grid
grid = load_grid(**json.loads(sys.argv[1]))
with tempfile.TemporaryDirectory() as tmp:
    run_grid(grid, tmp, num_cpus=1, progress=False, in_process=True)
    print(json.dumps([c["task_wall_time_s"] for c in read_cells(tmp)]))
"""


def measure_plain(processes: int) -> dict:
    """The cells without Ray: ``processes`` Python processes side by side, each running its share
    of the seeds in process (one torch thread each): the machine's own ceiling."""
    shares = [list(range(GRID["seeds"]))[i::processes] for i in range(processes)]
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, json.dumps({**GRID, "seeds": share})], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}) for share in shares]
    computes = [t for p in procs for t in json.loads(p.communicate()[0])]
    wall = time.perf_counter() - start
    assert all(p.returncode == 0 for p in procs) and len(computes) == 2 * GRID["seeds"]
    return {"engine": "no Ray", "num_cpus": processes, "cells": len(computes), "wall_s": wall,
            "cell_compute_s_mean": sum(computes) / len(computes), "cells_per_hour": 3600 * len(computes) / wall}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables-only", action="store_true", help="rewrite grid.md from the measured grid.json")
    if parser.parse_args().tables_only:
        write_markdown(json.loads((RESULTS / "grid.json").read_text()))
        return
    rows = [measure_ray(1), measure_ray(2), measure_plain(1), measure_plain(2)]
    out = {"grid": GRID, "rows": rows, "speedup_2_over_1": rows[0]["wall_s"] / rows[1]["wall_s"],
           "speedup_without_ray": rows[2]["wall_s"] / rows[3]["wall_s"],
           "cell_slowdown_two_at_once": rows[1]["cell_compute_s_mean"] / rows[0]["cell_compute_s_mean"],
           "machine": platform.platform(), "command": "python benchmarks/bench_grid.py"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grid.json").write_text(json.dumps(out, indent=1))
    write_markdown(out)


def write_markdown(out: dict) -> None:
    rows, speedup, plain = out["rows"], out["speedup_2_over_1"], out["speedup_without_ray"]
    lines = ["# Grid throughput on the embedded Ray instance", "",
             f"16 cells of the Titan protocol (MNIST, titan + rs x 8 seeds, {out['grid']['config']}); "
             f"`{out['command']}`; {out['machine']}.", "",
             "| engine | CPUs / processes | wall s | cells/hour | cell compute s (mean) | Ray start+stop s | fixed cost per grid s | overhead s/cell | overhead / cell |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ray_cols = (f"{r['ray_start_stop_s']:.1f} | {r['fixed_s']:.1f} | {r['overhead_s_per_cell']:.3f} | {100 * r['overhead_share_of_cell']:.1f}%"
                    if r["engine"] == "ray" else "— | — | — | —")
        lines.append(f"| {r['engine']} | {r['num_cpus']} | {r['wall_s']:.1f} | {r['cells_per_hour']:.0f} | "
                     f"{r['cell_compute_s_mean']:.2f} | {ray_cols} |")
    share = rows[1]["overhead_share_of_cell"]
    lines += ["", f"Speed-up of 2 CPUs over 1 on Ray: **{speedup:.2f}x** (goal >= 1.8x: {'met' if speedup >= 1.8 else 'not met'}); "
              f"a cell computed {out['cell_slowdown_two_at_once']:.2f}x as long with another beside it. "
              f"Per-cell overhead at 2 CPUs: **{100 * share:.1f}%** of a cell (goal < 2%: {'met' if share < 0.02 else 'not met'}); "
              f"Ray's start and its workers' start (the fixed cost, {rows[1]['fixed_s']:.1f} s at 2 CPUs) are paid once per grid. "
              f"For comparison, the same cells in plain Python processes side by side, each starting Python, torch and the "
              f"data set itself (no scheduler): {plain:.2f}x for two processes over one (their cells computed "
              f"{rows[3]['cell_compute_s_mean'] / rows[2]['cell_compute_s_mean']:.2f}x as long side by side as alone in that run)."]
    (RESULTS / "grid.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
