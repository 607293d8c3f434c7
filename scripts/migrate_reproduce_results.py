"""Convert the committed ``reproduce`` folders (one ``runs/run_*.json`` per run, the layout
before ``reproduce`` became a front-end over grid cells) into the grid's cells, with nothing
recomputed: each run's record becomes the cells of its methods, with the config and config
hash of the grid that ``reproduce`` now builds for the same command (checked field by field
against the folder's own config first). Then the tables are rebuilt from the cells and must
come out unchanged.

    python scripts/migrate_reproduce_results.py results/drip results/titan
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgesieve.experiments.grid.cells import drip_arm_metrics, online_metrics
from edgesieve.experiments.grid.spec import drip_method
from edgesieve.experiments.protocol import ProtocolConfig
from edgesieve.experiments.refresh import refresh_folder
from edgesieve.experiments.reproduce import drip_grids
from edgesieve.experiments.titan_protocol import TitanConfig, titan_grid
from edgesieve.state.files import atomic_write_text


def drip_grid(folder: Path, cfg: ProtocolConfig):
    base = replace(cfg, dpws=cfg.dpws[:1], label_noise=0.0)
    if folder.name == "dpw_sweep":  # the command's --dpw is the main table's (it labels the grid's baseline cells)
        main = folder.parent / "main" / "config.json"
        base = replace(base, dpws=tuple(json.loads(main.read_text())["config"]["dpws"]) if main.exists() else (0.25,))
        return drip_grids(base, dpw_sweep=cfg.dpws, sweep_runs=cfg.runs)["dpw_sweep"][0]
    if folder.name.startswith("noise_"):
        return drip_grids(base, noise_sweep=(cfg.label_noise,), sweep_runs=cfg.runs)[f"noise_{cfg.label_noise:g}"][0]
    return drip_grids(cfg)["main"][0]


def drip_metrics(grid, record: dict, method: str) -> dict:
    name = drip_method(method)[0]
    if name in ("baseline", "all_data"):
        m = {"test_accuracy": record[name]["acc"], "macro_f1": record[name]["f1"]}
    else:
        entry = record["by_dpw"][f"{grid.dpw(grid.datasets[0], method):g}"]
        m = drip_arm_metrics(entry, name == "random")
    return {**m, "sizes": record["sizes"]}


def titan_metrics(cfg: TitanConfig, record: dict, length: int) -> dict:
    cumulative = np.asarray(record["cumulative_seconds"])
    round_seconds = np.diff(cumulative, prepend=0.0)
    coarse, fine = record["coarse_ms_per_sample"], record["fine_ms"]
    m = online_metrics([tuple(c) for c in record["curve"]], round_seconds, [coarse] if coarse is not None else [],
                       [fine] if fine is not None else [])
    m["round_ms_mean"] = 1000 * record["round_seconds_mean"]
    last_round, last_acc = record["curve"][-1]
    if last_round == cfg.online.rounds:  # the curve's last point is the whole test split after the last round
        m["test_accuracy"] = last_acc
    m.update(rounds=cfg.online.rounds, stream_length=length, curve_on="test")
    return m


def migrate(folder: Path) -> str:
    saved = json.loads((folder / "config.json").read_text())
    versions = {k: saved.get(k) for k in ("edgesieve", "torch", "numpy", "python", "platform")}
    if "online" in saved["config"]:
        cfg = TitanConfig.from_json(saved["config"])
        grid = titan_grid(cfg)
        from edgesieve.data import load_dataset

        length = len(load_dataset(cfg.dataset).y) - cfg.online.calibration
        files = {c: folder / "runs" / f"run_{c.method}_seed{c.seed}.json" for c in grid.cells()}
        metrics = {c: titan_metrics(cfg, json.loads(f.read_text()), length) for c, f in files.items()}
    else:
        cfg = ProtocolConfig.from_json(saved["config"])
        grid = drip_grid(folder, cfg)
        dataset, stream = cfg.dataset, cfg.stream
        for dpw in cfg.dpws:  # the grid computes exactly what the folder's config did
            assert grid.drip_config(dataset, stream, (dpw,)) == replace(cfg, runs=1, seed=0, dpws=(dpw,)), folder
        files = {c: folder / "runs" / f"run_{c.seed - cfg.seed:03d}.json" for c in grid.cells()}
        metrics = {c: drip_metrics(grid, json.loads(f.read_text()), c.method) for c, f in files.items()}
    for cell, m in metrics.items():
        record = {"cell": cell.name, "protocol": cell.protocol, "dataset": cell.dataset, "stream": cell.stream,
                  "method": cell.method, "seed": cell.seed, "config": grid.cell_config(cell),
                  "config_hash": grid.config_hash(cell), "versions": versions, "metrics": m,
                  "wall_time_s": None, "task_wall_time_s": None, "task_cells": None, "peak_rss_mb": None,
                  "threads": saved.get("threads"), "migrated_from": f"runs/{files[cell].name}"}
        path = cell.path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1, allow_nan=False))
    atomic_write_text(folder / "config.json", json.dumps({"config": cfg.to_json(), "grid": grid.to_json()}, indent=1))
    before = {name: (folder / name).read_text() for name in ("table.md", "summary.json")}
    refresh_folder(folder)
    changed = [name for name, text in before.items() if (folder / name).read_text() != text]
    shutil.rmtree(folder / "runs")
    return f"{folder}: {len(metrics)} cells" + (f"; rebuilt {changed} differ (check git diff)" if changed else "; tables unchanged")


if __name__ == "__main__":
    for root in sys.argv[1:]:
        for config in sorted(Path(root).rglob("config.json")):
            if (config.parent / "runs").is_dir():
                print(migrate(config.parent))
