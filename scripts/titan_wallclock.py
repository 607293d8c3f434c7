"""Titan's wall-clock time-to-accuracy against RS per execution setting, and the crossover
figure (issue 14), from the cells of the wall-clock grids:

    edgesieve grid run experiments/titan_wallclock.toml --out results/wallclock/sequential --num-cpus 2
    edgesieve grid run experiments/titan_wallclock_pipelined.toml --out results/wallclock/pipelined --num-cpus 2
    # the light round (v = 40 into a buffer of 15: selection below a training step), to move s/t
    edgesieve grid run experiments/titan_wallclock.toml --datasets fsdd --set v=40 --set buffer=15 \
        --out results/wallclock/light/sequential --num-cpus 2
    edgesieve grid run experiments/titan_wallclock_pipelined.toml --datasets fsdd --set v=40 --set buffer=15 \
        --out results/wallclock/light/pipelined --num-cpus 2
    python scripts/titan_wallclock.py        # writes results/wallclock/wallclock.{json,md}, crossover.png

Each cell has the machine to itself (cpus_per_cell = 2 on 2 CPUs), so its seconds are clean.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgesieve.experiments.grid.report import read_cells
from edgesieve.experiments.titan_figures import wallclock_crossover
from edgesieve.experiments.wallclock import verdict, wallclock_rows

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "wallclock"


def _ratio(r: dict) -> str:
    if r["ratio"] is None:
        return "not reached"
    interval = "" if r["ci_low"] is None else f" [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
    if not r["missing"]:
        return f"{r['ratio']:.2f}x{interval}"
    bound = "" if r.get("at_least") is None else f"; >= {r['at_least']:.2f}x counting them at their run's end"
    return f"{r['ratio']:.2f}x{interval} ({r['missing']} seeds not reaching{bound})"


def format_markdown(rows: list[dict]) -> str:
    lines = ["# Titan's wall-clock time-to-accuracy against RS, per execution setting", "",
             "Command: `python scripts/titan_wallclock.py` over the cells of `experiments/titan_wallclock*.toml` "
             "(each cell alone on the 2 cores: `cpus_per_cell = 2`). RS runs sequentially (its round is the training step "
             "plus a random pick: the train-only reference). Per seed the target is that RS cell's last-20% accuracy, "
             "reached by the smoothed curve; seconds are cumulative round time (training + selection, no evaluation). "
             "Ratios are geometric means over seeds with the 95% Student-t interval of the mean log ratio; seeds where a "
             "method never reaches the target are left out and counted, and, since that flatters the method, the "
             "geometric mean with them counted at their run's end is given as a lower bound (>=). s/t = selection per round (coarse x v + fine, as "
             "measured in the cell) / RS's round. Predicted = rounds ratio x (1 + s/t) sequential, x (max(1, s/t) + o) "
             "pipelined, o = the pipeline's own cost per round over the training step (RS run pipelined, minus 1); "
             "break-even = the largest s/t at which Titan would still be faster (never: not even free selection would "
             "be, at this rounds ratio and pipeline cost).", "",
             "| data set | model | v / buffer | method | setting | seeds | final acc % | round ms | round / train-only | s/t "
             "| rounds to RS's level vs RS | wall-clock vs RS [95% CI] | verdict | predicted | break-even s/t |",
             "|---|---|---|---|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|"]
    for r in rows:
        is_ref = r["method"] == "rs" and r["setting"] == "sequential"
        x = "-" if r["selection_vs_train"] is None else f"{r['selection_vs_train']:.2f}"
        pred = r.get("predicted_seconds_ratio")
        be = r.get("break_even_selection_vs_train", "-")
        be = "never" if be is None else be if be == "-" else f"{be:.2f}"
        lines.append(f"| {r['dataset']} | {r['model']} | {r['v']} / {r.get('buffer', 30)} | {r['method']} | {r['setting']} | {r['seeds']} | "
                     f"{100 * r['final_accuracy']:.1f} | {r['round_ms']:.1f} | {r['round_vs_train']:.2f}x | {x} | "
                     f"{'reference' if is_ref else _ratio(r['rounds_ratio'])} | "
                     f"{'reference' if is_ref else _ratio(r['seconds_ratio'])} | "
                     f"{'-' if is_ref else verdict(r['seconds_ratio'])} | "
                     f"{'-' if pred is None else f'{pred:.2f}x'} | {be} |")
    lines += ["", "![crossover](crossover.png)", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", type=Path, default=[OUT / "sequential", OUT / "pipelined",
                                                                OUT / "light" / "sequential", OUT / "light" / "pipelined"])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    cells = [c for folder in args.folders if folder.exists() for c in read_cells(folder)]
    if not cells:
        raise SystemExit(f"no cells under {', '.join(map(str, args.folders))}: run the grids first (see --help)")
    rows = wallclock_rows(cells)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "wallclock.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    wallclock_crossover(rows, args.out / "crossover.png")
    text = format_markdown(rows)
    (args.out / "wallclock.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
