"""A cheaper coarse stage: Titan's shallow features averaged over pool x pool positions
(``coarse_pool``) before the coarse distances. How much of the coarse ranking survives, and what
it saves, on real data with each data set's model:

    python benchmarks/bench_coarse_pool.py      # writes benchmarks/results/coarse_pool.{json,md}

Per data set: the model is trained for a while by random batches (so that its first block is
no longer at its initial weights), then the same rounds of v = 100 arrivals are offered to a
coarse filter on the full features and to one on pooled features (each warm-started on the same
100 held-out samples, each with its own buffer of 30, as in the protocol). Reported per pool:
Spearman's rank correlation of the two filters' coarse scores within a round (mean over rounds),
the share of the full filter's buffer that the pooled one also buffers, the feature width, and
the coarse stage's time per round (shallow forward + scoring + buffering; median over rounds).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from edgesieve.data import dataset_spec, load_dataset
from edgesieve.models.registry import model_factory
from edgesieve.titan.coarse import CoarseFilter
from edgesieve.titan.features import ShallowFeatures, first_activation

RESULTS = Path(__file__).parent / "results"
CASES = [("mnist", None), ("mnist", "mobilenet_v1_28"), ("fashion", None), ("fsdd", None), ("har", None)]
POOLS = (2, 4, 8)
ROUNDS, V, BUFFER, TRAIN_STEPS = 40, 100, 30, 300


def trained_model(bundle, name: str, seed: int = 0):
    torch.manual_seed(seed)
    model = model_factory(name)()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rng = np.random.default_rng(seed)
    x, y = torch.from_numpy(bundle.x), torch.from_numpy(bundle.y)
    model.train()
    for _ in range(TRAIN_STEPS):
        idx = torch.from_numpy(rng.choice(len(y), 10, replace=False))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model.eval()


def measure(dataset: str, model_name: str | None) -> list[dict]:
    bundle = load_dataset(dataset)
    name = model_name or dataset_spec(dataset).model
    model = trained_model(bundle, name)
    layer = first_activation(model)
    rng = np.random.default_rng(1)
    rounds = min(ROUNDS, (len(bundle.y) - 100) // V)  # FSDD's 2,700 recordings hold 26 rounds
    order = torch.from_numpy(rng.permutation(len(bundle.y))[: 100 + rounds * V])
    x, y = torch.from_numpy(bundle.x)[order], torch.from_numpy(bundle.y)[order]
    filters = {p: CoarseFilter(ShallowFeatures(model, layer, p), bundle.n_classes, BUFFER) for p in (1, *POOLS)}
    for f in filters.values():
        f.warm_start(x[:100], y[:100])
    rho, overlap, seconds = {p: [] for p in POOLS}, {p: [] for p in POOLS}, {p: [] for p in (1, *POOLS)}
    for r in range(rounds):
        xr, yr = x[100 + r * V: 100 + (r + 1) * V], y[100 + r * V: 100 + (r + 1) * V]
        scores, buffered = {}, {}
        for p, f in filters.items():
            t0 = time.perf_counter()
            scores[p] = f.offer(xr, yr).numpy()
            buffered[p] = set(f.buffer.take()[0].tolist())
            seconds[p].append(time.perf_counter() - t0)
        for p in POOLS:
            rho[p].append(stats.spearmanr(scores[1], scores[p]).statistic)
            overlap[p].append(len(buffered[1] & buffered[p]) / len(buffered[1]))
    width = {p: int(filters[p].stats.mean.shape[1]) for p in filters}
    full_ms = 1000 * float(np.median(seconds[1]))
    rows = [{"dataset": dataset, "model": name, "layer": layer, "pool": 1, "feature_width": width[1],
             "spearman_mean": 1.0, "spearman_min": 1.0, "buffer_overlap": 1.0, "coarse_ms_per_round": full_ms,
             "time_vs_full": 1.0}]
    for p in POOLS:
        ms = 1000 * float(np.median(seconds[p]))
        rows.append({"dataset": dataset, "model": name, "layer": layer, "pool": p, "feature_width": width[p],
                     "spearman_mean": float(np.mean(rho[p])), "spearman_min": float(np.min(rho[p])),
                     "buffer_overlap": float(np.mean(overlap[p])), "coarse_ms_per_round": ms, "time_vs_full": ms / full_ms})
    return rows


def end_to_end(full_dir: Path, pooled_dir: Path, pool: int = 4) -> list[dict]:
    """Titan with the pooled coarse stage against the full one, paired by seed, from grid cells
    (experiments/evidence_coarse_pool.toml against experiments/evidence_titan.toml)."""
    from edgesieve.experiments.grid import read_cells
    from edgesieve.experiments.statistics import minimum_detectable_effect, t_interval

    def by_key(folder):
        return {(c["dataset"], c["stream"], c["seed"]): c for c in read_cells(folder) if c["method"] == "titan"}

    if not pooled_dir.exists():
        return []
    full, pooled = by_key(full_dir / "titan"), by_key(pooled_dir / "titan")
    rows = []
    for dataset, stream in sorted({(d, s) for d, s, _ in pooled}):
        seeds = sorted(k[2] for k in pooled if k[:2] == (dataset, stream) and k in full)
        if not seeds:
            continue
        pairs = [(full[(dataset, stream, s)]["metrics"], pooled[(dataset, stream, s)]["metrics"]) for s in seeds]
        diffs = [100 * (b["last20_accuracy"] - a["last20_accuracy"]) for a, b in pairs]
        low, high = t_interval(diffs)
        rows.append({"dataset": dataset, "stream": stream, "pool": pool, "n": len(seeds),
                     "full_last20": 100 * float(np.mean([a["last20_accuracy"] for a, _ in pairs])),
                     "pooled_minus_full": float(np.mean(diffs)), "ci_low": low, "ci_high": high,
                     "mde": minimum_detectable_effect(diffs),
                     "coarse_ms_per_sample_full": float(np.median([a["coarse_ms_per_sample"] for a, _ in pairs])),
                     "coarse_ms_per_sample_pooled": float(np.median([b["coarse_ms_per_sample"] for _, b in pairs])),
                     "round_ms_full": float(np.mean([a["round_ms_mean"] for a, _ in pairs])),
                     "round_ms_pooled": float(np.mean([b["round_ms_mean"] for _, b in pairs]))})
    return rows


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables-only", action="store_true",
                        help="keep the measured rows of coarse_pool.json, pair the grid cells again, rewrite the tables")
    root = Path(__file__).resolve().parents[1] / "results"
    paired = end_to_end(root / "evidence", root / "evidence_coarse_pool")
    if parser.parse_args().tables_only:
        saved = json.loads((RESULTS / "coarse_pool.json").read_text())
        meta, rows = saved["meta"], saved["rows"]
    else:
        torch.set_num_threads(2)
        rows = []
        for dataset, model_name in CASES:
            rows += measure(dataset, model_name)
            for r in rows[-len(POOLS) - 1:]:
                print(r, flush=True)
        meta = {"command": "python benchmarks/bench_coarse_pool.py", "machine": platform.platform(), "rounds": ROUNDS,
                "v": V, "buffer": BUFFER, "train_steps": TRAIN_STEPS, "threads": 2}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "coarse_pool.json").write_text(json.dumps({"meta": meta, "rows": rows, "end_to_end": paired}, indent=1))
    write_markdown(meta, rows, paired)


def write_markdown(meta: dict, rows: list, paired: list) -> None:
    lines = ["# A cheaper coarse stage: shallow features pooled before the coarse distances", "",
             f"`{meta['command']}`; {meta['machine']}; 2 threads; each model trained {meta['train_steps']} random batches "
             f"of 10 first; {meta['rounds']} rounds of v = {meta['v']} (FSDD: 26, all its data), buffer {meta['buffer']}. "
             "Rank correlation: Spearman's rho of the pooled and the full filter's coarse scores within a round (mean, and "
             "the worst round); overlap: the share of the full filter's buffer the pooled one also holds; time: the coarse "
             "stage per round (shallow forward, scores, buffer), median.", "",
             "| data set | model (layer) | pool | feature width | Spearman rho (mean / worst round) | buffer overlap | coarse ms per round | vs full |",
             "|---|---|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['model']} ({r['layer']}) | {r['pool']} | {r['feature_width']:,} | "
                     f"{r['spearman_mean']:.3f} / {r['spearman_min']:.3f} | {100 * r['buffer_overlap']:.0f}% | "
                     f"{r['coarse_ms_per_round']:.2f} | {r['time_vs_full']:.2f}x |")
    if paired:
        lines += ["", "End to end (`edgesieve grid run experiments/evidence_coarse_pool.toml --out results/evidence_coarse_pool`): "
                  "Titan with `coarse_pool = 4` against the committed full-feature cells of experiments/evidence_titan.toml, "
                  "the same seeds and settings, paired by seed; last20_accuracy in points. The timings are what each grid's "
                  "cells measured (2 cells at a time on 2 cores, in different sessions: indicative only; the table above "
                  "measures both in one process).", "",
                  "| data set | stream | n | full: last20 % | pooled − full [95% CI] | MDE | coarse ms per arrival (full -> pooled) | round ms (full -> pooled) |",
                  "|---|---|---:|---:|---|---:|---|---|"]
        for r in paired:
            lines.append(f"| {r['dataset']} | {r['stream']} | {r['n']} | {r['full_last20']:.2f} | {r['pooled_minus_full']:+.2f} "
                         f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}] | {r['mde']:.2f} | {r['coarse_ms_per_sample_full']:.3f} -> "
                         f"{r['coarse_ms_per_sample_pooled']:.3f} | {r['round_ms_full']:.1f} -> {r['round_ms_pooled']:.1f} |")
    (RESULTS / "coarse_pool.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
