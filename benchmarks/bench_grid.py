"""Grid throughput on Ray: a 16-cell Titan-protocol grid run with 1 and with 2 CPUs on the
embedded instance; cells per hour, the speed-up of 2 CPUs over 1, and Ray's overhead per cell.

    python benchmarks/bench_grid.py            # writes benchmarks/results/grid.{json,md}

Overhead per cell = (grid wall time - Ray start/stop - the cells' own compute / CPUs) / cells,
with each cell's compute as the worker measured it; start-up and shutdown are reported apart
(paid once per grid, not per cell). Goal: >= 1.8x on 2 cores, per-cell overhead < 2% of a cell.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from edgesieve.experiments.grid import load_grid, read_cells, run_grid

RESULTS = Path(__file__).parent / "results"
GRID = dict(protocol="titan", datasets=["mnist"], methods=["titan", "rs"], seeds=8,
            config={"rounds": 150, "v": 100, "eval_every": 75})


def measure(num_cpus: int) -> dict:
    import ray

    grid = load_grid(**GRID)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False, _node_ip_address="127.0.0.1")
        ray.shutdown()
        startup = time.perf_counter() - t0
        start = time.perf_counter()
        outcome = run_grid(grid, tmp, num_cpus=num_cpus, progress=False)
        wall = time.perf_counter() - start
        cells = read_cells(tmp)
    assert outcome.done == len(cells) == 16 and not outcome.failed
    compute = sum(c["task_wall_time_s"] for c in cells)
    per_cell = compute / len(cells)
    overhead = (wall - startup - compute / num_cpus) / len(cells)
    return {"num_cpus": num_cpus, "cells": len(cells), "wall_s": wall, "ray_start_stop_s": startup,
            "cell_compute_s_mean": per_cell, "cells_per_hour": 3600 * len(cells) / wall,
            "overhead_s_per_cell": overhead, "overhead_share_of_cell": overhead / per_cell}


def main() -> None:
    rows = [measure(1), measure(2)]
    speedup = rows[0]["wall_s"] / rows[1]["wall_s"]
    out = {"grid": GRID, "rows": rows, "speedup_2_over_1": speedup, "machine": platform.platform(),
           "command": "python benchmarks/bench_grid.py"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grid.json").write_text(json.dumps(out, indent=1))
    lines = ["# Grid throughput on the embedded Ray instance", "",
             f"16 cells of the Titan protocol (MNIST, titan + rs x 8 seeds, {GRID['config']}); "
             f"`{out['command']}`; {out['machine']}.", "",
             "| CPUs | wall s | cells/hour | cell compute s (mean) | Ray start+stop s | overhead s/cell | overhead / cell |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['num_cpus']} | {r['wall_s']:.1f} | {r['cells_per_hour']:.0f} | {r['cell_compute_s_mean']:.2f} | "
                     f"{r['ray_start_stop_s']:.1f} | {r['overhead_s_per_cell']:.3f} | {100 * r['overhead_share_of_cell']:.1f}% |")
    lines += ["", f"Speed-up of 2 CPUs over 1: **{speedup:.2f}x** (goal >= 1.8x: {'met' if speedup >= 1.8 else 'not met'}). "
              f"Per-cell overhead at 2 CPUs: {100 * rows[1]['overhead_share_of_cell']:.1f}% of a cell "
              f"(goal < 2%: {'met' if rows[1]['overhead_share_of_cell'] < 0.02 else 'not met'})."]
    (RESULTS / "grid.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
