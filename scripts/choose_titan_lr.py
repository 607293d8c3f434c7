"""Choose the Titan protocol's learning rate per data set on the validation split, for RS, from a
small grid (issue 12). Resumable (grid cells); writes results/evidence/titan_lr.json and prints
the choice. Usage: python scripts/choose_titan_lr.py [--num-cpus N]

Another grid file (its data sets, models and settings; ``lr`` swept) with ``--grid``, its cells
under ``--out`` and the choice in ``--record``:
    python scripts/choose_titan_lr.py --grid experiments/titan_wallclock_lr.toml \
        --out results/wallclock/lr --record results/wallclock/titan_lr.json"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgesieve.experiments.grid import load_grid, run_grid
from edgesieve.experiments.grid.report import read_cells

LR_GRID = (0.01, 0.03, 0.1, 0.3)
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "evidence" / "lr"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--num-cpus", type=int, default=None)
    ap.add_argument("--grid", type=Path, default=ROOT / "experiments" / "titan_lr.toml")
    ap.add_argument("--out", type=Path, default=OUT, help="folder of the sweep's cells (one folder per lr)")
    ap.add_argument("--record", type=Path, default=OUT.parent / "titan_lr.json", help="where the choice is written")
    args = ap.parse_args()
    scores: dict = defaultdict(dict)
    for lr in LR_GRID:
        base = load_grid(args.grid)
        grid = load_grid(args.grid, config={**base.config, "lr": lr})
        folder = args.out / f"lr_{lr:g}"
        outcome = run_grid(grid, folder, num_cpus=args.num_cpus, progress=False)
        if outcome.failed:
            raise SystemExit(f"lr={lr:g}: {outcome.failed} cells failed; see the .error.json files under {folder}")
        by_dataset = defaultdict(list)
        for cell in read_cells(folder):
            by_dataset[cell["dataset"]].append(100 * cell["metrics"]["last20_accuracy"])
        for d, values in by_dataset.items():
            scores[d][f"{lr:g}"] = {"mean": float(np.mean(values)), "n": len(values)}
    chosen = {d: float(max(s, key=lambda k: s[k]["mean"])) for d, s in scores.items()}
    record = {"metric": "RS last20_accuracy on the validation split (points), iid stream", "lr_grid": list(LR_GRID),
              "grid_file": _relative(args.grid), "scores": scores, "chosen": chosen}
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(json.dumps(record, indent=1) + "\n")
    for d in sorted(chosen):
        row = "  ".join(f"lr={k}: {v['mean']:.1f}" for k, v in scores[d].items())
        print(f"{d:8s} {row}  -> lr = {chosen[d]:g}")


def _relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    main()
