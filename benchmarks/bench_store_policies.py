"""Per-arrival cost of each store capacity policy against one inference of the model it serves.

    python benchmarks/bench_store_policies.py     # writes benchmarks/results/store_policies.{md,json}

A policy decides one arrival at a time (its state is sequential), so its cost is paid per sample
on the device next to the model's forward pass. The stream: 20,000 arrivals, 10 classes, softmax
probabilities from a Dirichlet (the policies' work does not depend on what the model says), a
store of 1,000 samples. Inference: the MNIST CNN's forward pass per sample, in batches of 64 and
of 1, torch on this machine's threads.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from edgesieve import __version__
from edgesieve.models import MnistCNN
from edgesieve.store.policies import fill_store, list_policies
from edgesieve.store.trust import trust_scores

RESULTS = Path(__file__).parent / "results"


#: configurations measured besides every policy at its defaults: the variant the store evidence favours
VARIANTS = {"trust_balanced:labelled_store=true,within=random": ("trust_balanced", {"labelled_store": True, "within": "random"}),
            "trust_balanced:labelled_store=true,within=random,full=reservoir":
                ("trust_balanced", {"labelled_store": True, "within": "random", "full": "reservoir"}),
            "trust_balanced:labelled_store=true,within=uncertain,full=reservoir":
                ("trust_balanced", {"labelled_store": True, "within": "uncertain", "full": "reservoir"})}


def policy_us_per_arrival(name: str, probs: np.ndarray, labels: np.ndarray, capacity: int, repeats: int,
                          params: dict | None = None) -> float:
    kwargs = {"labels": labels} if name in ("reservoir", "class_balanced", "gdumb") else {"probs": probs}
    if name == "evict_lowest":
        kwargs = {"scores": probs.max(1)}
    if name == "trust_balanced":
        kwargs["scores"] = trust_scores(probs)
    if name == "hus_validated":
        kwargs["params"] = {"threshold": 0.9}  # a validated threshold, as fit_validation leaves it
    if params:
        kwargs["params"] = params
        if params.get("labelled_store"):
            kwargs["store_labels"] = labels  # each kept sample's label reported back, as on the device
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fill_store(name, capacity, n_classes=probs.shape[1], seed=0, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best / len(probs) * 1e6


def inference_us_per_sample(batch: int, n: int = 2048) -> float:
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x = torch.rand(n, 1, 28, 28)
    with torch.no_grad():
        model(x[:batch])
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            model(x[i : i + batch])
    return (time.perf_counter() - t0) / n * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=int, default=20000)
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)  # best of 5: one run swings by a third on a shared machine
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(10, 0.3), size=args.arrivals)
    labels = rng.integers(0, 10, args.arrivals)
    policies = {p: policy_us_per_arrival(p, probs, labels, args.capacity, args.repeats) for p in list_policies()}
    policies.update({v: policy_us_per_arrival(name, probs, labels, args.capacity, args.repeats, params)
                     for v, (name, params) in VARIANTS.items()})
    inference = {f"batch {b}": inference_us_per_sample(b, 2048 if b > 1 else 256) for b in (64, 1)}
    record = {"version": __version__, "platform": platform.platform(), "threads": torch.get_num_threads(),
              "arrivals": args.arrivals, "capacity": args.capacity, "policy_us_per_arrival": policies,
              "mnist_cnn_inference_us_per_sample": inference}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "store_policies.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Store policies: cost per arrival vs one inference ({args.arrivals} arrivals, store of {args.capacity}, 10 classes)",
             "", f"Command: `python benchmarks/bench_store_policies.py`; {record['platform']}, {record['threads']} torch threads.", "",
             "| policy | µs per arrival | share of one MNIST CNN inference (batch 64) |", "|---|---:|---:|"]
    per64 = inference["batch 64"]
    for p, us in sorted(policies.items(), key=lambda kv: kv[1]):
        lines.append(f"| {p} | {us:.2f} | {us / per64:.1%} |")
    lines += ["", "| MNIST CNN forward | µs per sample |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in inference.items()]
    (RESULTS / "store_policies.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
