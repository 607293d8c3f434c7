"""Titan's budgets on the MNIST CNN, 2 threads (writes benchmarks/results/titan.{md,json}):

    python benchmarks/bench_titan.py

* coarse filter time per streaming sample (shallow features + scores + buffer), v = 100;
* fine selection (C-IS) time on a 30-sample buffer;
* per-round time of train-only, sequential and pipelined execution;
* the selector's state (class estimators + buffer) over 10,000 rounds: it must not grow.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import torch

from edgesieve import __version__
from edgesieve.models import MnistCNN
from edgesieve.titan.coarse import CoarseFilter
from edgesieve.titan.fine import logits_and_features, select_batch
from edgesieve.titan.online import OnlineConfig, ShallowFeatures, first_activation, last_linear, run_online

RESULTS = Path(__file__).parent / "results"


def state_bytes(filt: CoarseFilter) -> int:
    tensors = [filt.stats.count, filt.stats.mean, filt.stats.mean_sq_norm, filt.buffer.features,
               filt.buffer.samples, filt.buffer.labels, filt.buffer.scores]
    return sum(t.numel() * t.element_size() for t in tensors)


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x = torch.rand(20_000, 1, 28, 28)
    y = torch.randint(0, 10, (20_000,))
    filt = CoarseFilter(ShallowFeatures(model, first_activation(model)), 10, 30)
    coarse, fine, sizes = [], [], {}
    gen = torch.Generator().manual_seed(0)
    for r in range(10_000):
        i = (r * 100) % 19_900
        t0 = time.perf_counter()
        filt.offer(x[i : i + 100], y[i : i + 100])
        t1 = time.perf_counter()
        bx, by = filt.buffer.take()
        logits, feats = logits_and_features(model, bx, last_linear(model))
        select_batch("titan", logits, feats, by, 10, gen)
        t2 = time.perf_counter()
        coarse.append((t1 - t0) / 100)
        fine.append(t2 - t1)
        if r + 1 in (10, 100, 1_000, 10_000):
            sizes[r + 1] = state_bytes(filt)
    out = {
        "coarse_ms_per_sample": 1000 * statistics.median(coarse),
        "fine_ms_buffer30": 1000 * statistics.median(fine),
        "selector_state_bytes_by_round": sizes,
    }
    xt, yt = x[:1000], y[:1000]
    for mode in ("train_only", "sequential", "pipelined"):
        torch.manual_seed(0)
        res = run_online(MnistCNN(), x, y, xt, yt, 10, OnlineConfig(rounds=150, mode=mode, eval_every=1000))
        out[f"round_ms_{mode}"] = 1000 * statistics.median(res.round_seconds[10:])
    out["pipelined_vs_train_only"] = out["round_ms_pipelined"] / out["round_ms_train_only"]
    out["sequential_vs_train_only"] = out["round_ms_sequential"] / out["round_ms_train_only"]
    meta = {"edgesieve": __version__, "torch": torch.__version__, "platform": platform.platform(),
            "command": "python benchmarks/bench_titan.py"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "titan.json").write_text(json.dumps({"meta": meta, **out}, indent=1))
    lines = [
        "# Titan budgets (MNIST CNN, 2 threads, v = 100, buffer 30, batch 10)\n",
        f"Command: `{meta['command']}`; {meta['platform']}.\n",
        "| measure | value | budget |",
        "|---|---:|---|",
        f"| coarse filter, per streaming sample | {out['coarse_ms_per_sample']:.3f} ms | < 1 ms |",
        f"| fine selection (C-IS) on a 30-sample buffer | {out['fine_ms_buffer30']:.2f} ms | < 5 ms |",
        f"| round, train only | {out['round_ms_train_only']:.1f} ms | |",
        f"| round, sequential | {out['round_ms_sequential']:.1f} ms ({out['sequential_vs_train_only']:.2f}x) | |",
        f"| round, pipelined | {out['round_ms_pipelined']:.1f} ms ({out['pipelined_vs_train_only']:.2f}x) | <= 1.15x train-only |",
    ]
    lines += [f"| selector state after {r:,} rounds | {b:,} bytes | constant |" for r, b in sizes.items()]
    (RESULTS / "titan.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
