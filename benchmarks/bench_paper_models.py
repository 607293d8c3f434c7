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


def _clock(device: torch.device) -> float:
    """Now, once the device's queued work is done (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def measure(name: str, rounds: int, v: int = 100, batch: int = 10, device: str = "cpu") -> dict:
    from edgesieve.selectors import TitanSelector

    shape, classes = MODELS[name]
    device = torch.device(device)
    torch.manual_seed(0)
    model = build_model(name).train().to(device)
    x, y = torch.randn(v * 4, *shape, device=device), torch.randint(classes, (v * 4,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = []
    for r in range(rounds + 3):
        idx = torch.randint(len(y), (batch,), device=device)
        t0 = _clock(device)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        steps.append(_clock(device) - t0)
    model.eval()
    # the fine stage with the shallow features reused (the default) and with a whole forward, alternated
    sels = {reuse: TitanSelector(model, reuse_features=reuse).calibrate(x[:100], y[:100]) for reuse in (True, False)}
    coarse, fine, whole_round = [], {True: [], False: []}, []
    for r in range(rounds + 3):
        i = (r * v) % (len(y) - v)
        for reuse in ((True, False) if r % 2 else (False, True)):
            t0 = _clock(device)
            sels[reuse].decide(x[i : i + v], y[i : i + v])
            if reuse:
                whole_round.append(1000 * (_clock(device) - t0))
            fine[reuse].append(sels[reuse].stage_ms_["fine"])
        coarse.append(sels[True].stage_ms_["coarse"] / v)
    train_ms = 1000 * statistics.median(steps[3:])
    coarse_ms, fine_ms = statistics.median(coarse[3:]), statistics.median(fine[True][3:])
    # on CUDA the stages' own clocks may stop before queued kernels finish: the round, timed to a
    # synchronised end, is the selection cost there
    selection_ms = coarse_ms * v + fine_ms if device.type == "cpu" else statistics.median(whole_round[3:])
    return {"parameters": sum(p.numel() for p in model.parameters()), "train_step_ms_batch10": train_ms,
            "coarse_ms_per_arrival": coarse_ms, "fine_ms_per_round": fine_ms,
            "fine_ms_whole_forward": statistics.median(fine[False][3:]), "reuses_features": sels[True].coarse_.reuses_features,
            "selection_ms_per_round": selection_ms, "selection_to_training": selection_ms / train_ms}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: the model, data, training and "
                        "selection on that device; writes paper_models_<device>.{md,json}")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = {}
    for name in MODELS:
        rows[name] = measure(name, args.rounds, device=args.device)
        print(name, rows[name], flush=True)
    where = f"{args.threads} threads" if args.device == "cpu" else f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    record = {"version": __version__, "platform": platform.platform(), "threads": args.threads, "device": args.device,
              "where": where, "v": 100, "buffer": 30, "batch": 10, "models": rows}
    stem = "paper_models" if args.device == "cpu" else f"paper_models_{args.device}"
    flag = "" if args.device == "cpu" else f" --device {args.device}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Selection against training cost per model ({where}; v = 100, buffer 30, batch 10)", "",
             f"Command: `python benchmarks/bench_paper_models.py{flag}`; {record['platform']}.", "",
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
    if args.device != "cpu":
        lines += ["", f"On {args.device}, selection per round is the whole round (`decide` on 100 arrivals) timed to a "
                  "synchronised end; the per-stage columns are the stages' own clocks, which may stop before queued "
                  "kernels finish."]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
