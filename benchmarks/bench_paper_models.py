"""Selection cost against training cost for each model, ours and the paper-like ones (the Titan
speed issue): a training step at batch 10, Titan's coarse stage per arrival and its fine stage per
round (v = 100 arrivals, buffer 30), medians over rounds, on this machine's threads.

    python benchmarks/bench_paper_models.py     # writes benchmarks/results/paper_models.{md,json}

The ratio (coarse x v + fine) / training step is the selection-to-training cost ratio of one
round: Titan's pipeline can hide selection behind training only where it is at most about 1.
Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from edgesieve import __version__
from edgesieve.models import build_model

RESULTS = Path(__file__).parent / "results"
#: model -> (sample shape, classes)
MODELS = {"mnist_cnn": ((1, 28, 28), 10), "mobilenet_v1_28": ((1, 28, 28), 10), "audio_cnn": ((1, 8000), 10),
          "audio_resnet1d": ((1, 8000), 10), "imu_cnn": ((6, 100), 7), "har_mlp": ((6, 100), 7)}


def measure(name: str, rounds: int, v: int = 100, batch: int = 10) -> dict:
    from edgesieve.selectors import TitanSelector

    shape, classes = MODELS[name]
    torch.manual_seed(0)
    model = build_model(name).train()
    x, y = torch.randn(v * 4, *shape), torch.randint(classes, (v * 4,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = []
    for r in range(rounds + 3):
        idx = torch.randint(len(y), (batch,))
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        steps.append(time.perf_counter() - t0)
    model.eval()
    # the fine stage with the shallow features reused (the default) and with a whole forward, alternated
    sels = {reuse: TitanSelector(model, reuse_features=reuse).calibrate(x[:100], y[:100]) for reuse in (True, False)}
    coarse, fine = [], {True: [], False: []}
    for r in range(rounds + 3):
        i = (r * v) % (len(y) - v)
        for reuse in ((True, False) if r % 2 else (False, True)):
            sels[reuse].decide(x[i : i + v], y[i : i + v])
            fine[reuse].append(sels[reuse].stage_ms_["fine"])
        coarse.append(sels[True].stage_ms_["coarse"] / v)
    train_ms = 1000 * statistics.median(steps[3:])
    coarse_ms, fine_ms = statistics.median(coarse[3:]), statistics.median(fine[True][3:])
    return {"parameters": sum(p.numel() for p in model.parameters()), "train_step_ms_batch10": train_ms,
            "coarse_ms_per_arrival": coarse_ms, "fine_ms_per_round": fine_ms,
            "fine_ms_whole_forward": statistics.median(fine[False][3:]), "reuses_features": sels[True].coarse_.reuses_features,
            "selection_ms_per_round": coarse_ms * v + fine_ms,
            "selection_to_training": (coarse_ms * v + fine_ms) / train_ms}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = {}
    for name in MODELS:
        rows[name] = measure(name, args.rounds)
        print(name, rows[name], flush=True)
    record = {"version": __version__, "platform": platform.platform(), "threads": args.threads, "v": 100,
              "buffer": 30, "batch": 10, "models": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "paper_models.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Selection against training cost per model ({args.threads} threads; v = 100, buffer 30, batch 10)", "",
             f"Command: `python benchmarks/bench_paper_models.py`; {record['platform']}.", "",
             "| model | parameters | training step (ms) | coarse per arrival (ms) | fine per round (ms) | "
             "fine, whole forward (ms) | selection per round (ms) | selection / training |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['parameters']:,} | {r['train_step_ms_batch10']:.2f} | {r['coarse_ms_per_arrival']:.3f} | "
                     f"{r['fine_ms_per_round']:.2f} | {r['fine_ms_whole_forward']:.2f} | {r['selection_ms_per_round']:.2f} | "
                     f"{r['selection_to_training']:.2f} |")
    lines += ["", "Selection per round = coarse per arrival x 100 + fine per round; Titan's pipeline can hide it behind "
              "training only where selection / training is at most about 1. Fine per round: the fine stage resuming the "
              "forward from the coarse stage's shallow features (`reuse_features`, the default); whole forward: the same "
              "selector running the model from the input (`reuse_features=False`), rounds alternated."]
    (RESULTS / "paper_models.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
