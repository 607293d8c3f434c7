"""What each online batch method costs per round, against one training step of the same model:

    python benchmarks/bench_batch_methods.py      # writes benchmarks/results/batch_methods.{json,md}

Per model (the data sets' own: the MNIST CNN, the IMU CNN, the audio CNN) and registered batch
method: the median time of one round's selection, ``decide`` on v = 100 labelled candidates
(random inputs of the model's shape) with the method's own coarse stage, batch 10, buffer 30,
one thread; and the median time of one training step (SGD, batch 10) as the yardstick. A method
that reads only the labels (RS; trust_balanced when the labels are given) runs no forward pass.
Run it on an otherwise idle machine: every number is a wall-clock measurement.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from edgesieve import create_selector
from edgesieve.models import build_model
from edgesieve.selectors.batch.base import list_batch_methods

RESULTS = Path(__file__).parent / "results"
MODELS = {"mnist_cnn": ((1, 28, 28), 10), "imu_cnn": ((6, 100), 7), "audio_cnn": ((1, 8000), 10)}
V, BATCH, BUFFER, ROUNDS, WARMUP = 100, 10, 30, 30, 5


def median_ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds)


def train_step_ms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for i in range(ROUNDS + WARMUP):
        xb, yb = x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]
        start = time.perf_counter()
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
        times.append(time.perf_counter() - start)
    model.eval()
    return median_ms(times[WARMUP:])


def round_ms(method: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, cal: int = 300) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = create_selector(method, model=model, batch=BATCH, buffer=BUFFER, seed=0).calibrate(x[:cal], y[:cal])
    times = []
    for i in range(ROUNDS + WARMUP):
        xr, yr = x[cal + i * V:cal + (i + 1) * V], y[cal + i * V:cal + (i + 1) * V]
        start = time.perf_counter()
        sel.decide(xr, yr)
        times.append(time.perf_counter() - start)
    return median_ms(times[WARMUP:])


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for name, (shape, classes) in MODELS.items():
        torch.manual_seed(0)
        n = 300 + (ROUNDS + WARMUP) * V
        x, y = torch.rand(n, *shape), torch.randint(classes, (n,))
        model = build_model(name).eval()
        step = train_step_ms(model, x, y)
        for method in list_batch_methods():
            ms = round_ms(method, model, x, y)
            rows.append({"model": name, "method": method, "round_ms": ms, "train_step_ms": step, "vs_train_step": ms / step})
            print(f"{name} {method}: {ms:.2f} ms per round ({ms / step:.2f}x a training step of {step:.2f} ms)", flush=True)
    methods = list_batch_methods()
    lines = ["# Online batch methods: selection per round against a training step", "",
             f"Command: `python benchmarks/bench_batch_methods.py`; {platform.platform()}; one thread. A round: `decide` on "
             f"v = {V} labelled candidates (random inputs of the model's shape) with the method's own coarse stage, "
             f"batch {BATCH}, buffer {BUFFER}; median over {ROUNDS} rounds after {WARMUP} warm-up ones. In brackets: the "
             f"round's selection as a multiple of one training step (SGD, batch {BATCH}) of the same model.", "",
             "| method | " + " | ".join(f"{m} (step {next(r['train_step_ms'] for r in rows if r['model'] == m):.2f} ms)"
                                      for m in MODELS) + " |",
             "|---|" + "---:|" * len(MODELS)]
    for method in methods:
        cells = [next(r for r in rows if r["model"] == m and r["method"] == method) for m in MODELS]
        lines.append(f"| {method} | " + " | ".join(f"{c['round_ms']:.2f} ms ({c['vs_train_step']:.2f}x)" for c in cells) + " |")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch_methods.json").write_text(json.dumps({"platform": platform.platform(), "rows": rows}, indent=1))
    (RESULTS / "batch_methods.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
