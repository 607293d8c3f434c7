"""Throughput of DRIP scoring against plain inference and Captum, on one model and input set.

    python benchmarks/bench_scoring.py            # writes benchmarks/results/scoring.{md,json}

Columns (samples per second, median over repeats; the four methods are timed round-robin):
  inference    model(x) under no_grad
  closed-form  GradCAM(...).scores(x): DRIP scores via the exact no-backward form
  autograd     GradCAM(..., closed_form=False).explain(x): upsampled heatmaps and scores
  captum       model(x).argmax (the target) + LayerGradCam.attribute + LayerAttribution.interpolate
Also: one DripSelector.decide on a single MNIST-sized sample (latency, ms).
Models are untrained (weights do not change the cost); BatchNorm statistics come from one
training-mode pass.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch

from edgesieve import DripSelector, GradCAM, __version__
from edgesieve.models import EfficientNetStyle, MnistCNN

RESULTS = Path(__file__).parent / "results"


def timed(fns: dict, *, min_time: float = 2.0, min_repeats: int = 5, warmup: int = 3) -> dict:
    """Median seconds per call of each function, timed round-robin (one call of each in turn),
    so drifts in machine speed hit every method alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    start = time.perf_counter()
    while min(map(len, times.values())) < min_repeats or time.perf_counter() - start < min_time * len(fns):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def captum_fn(model, layer, x):
    from captum.attr import LayerAttribution, LayerGradCam

    gradcam = LayerGradCam(model, layer)
    mode = "bilinear" if x.dim() == 4 else "linear"

    def run():
        with torch.no_grad():
            target = model(x).argmax(1)
        attr = gradcam.attribute(x, target=target)
        return LayerAttribution.interpolate(attr, tuple(x.shape[2:]), interpolate_mode=mode)

    return run


def bench_model(name, model, sample_shape, batch_sizes, min_time):
    model.train()
    with torch.no_grad():
        model(torch.rand(8, *sample_shape))
    model.eval()
    layer = model.get_submodule(model.cam_layer)
    closed = GradCAM(model)
    autograd = GradCAM(model, closed_form=False)
    assert closed.uses_closed_form
    rows = []
    for bs in batch_sizes:
        x = torch.rand(bs, *sample_shape)

        def inference():
            with torch.no_grad():
                model(x)

        t = timed(
            {
                "inference": inference,
                "closed_form": lambda: closed.scores(x),
                "autograd": lambda: autograd.explain(x),
                "captum": captum_fn(model, layer, x),
            },
            min_time=min_time,
        )
        row = {"model": name, "input": "x".join(map(str, sample_shape)), "batch": bs}
        row.update({f"{k}_per_s": bs / v for k, v in t.items()})
        row["closed_vs_inference"] = t["inference"] / t["closed_form"]
        row["autograd_vs_captum"] = t["captum"] / t["autograd"]
        rows.append(row)
        print(f"{name:<20} batch {bs:>4}: " + ", ".join(f"{k} {bs / v:,.0f}/s" for k, v in t.items()), flush=True)
    return rows


def decision_latency_ms(min_time):
    torch.manual_seed(0)
    model = MnistCNN().eval()
    with warnings.catch_warnings():  # an untrained model predicts few classes; cost is the same
        warnings.simplefilter("ignore")
        sel = DripSelector(model).calibrate(torch.rand(500, 1, 28, 28))
    x = torch.rand(1, 1, 28, 28)
    return 1000 * timed({"decide": lambda: sel.decide(x)}, min_time=min_time, min_repeats=50)["decide"]


def to_markdown(rows, latency_ms, meta) -> str:
    lines = [
        "# DRIP scoring throughput (samples/s)\n",
        f"Machine: {meta['cpu_threads']} torch threads, {meta['platform']}; torch {meta['torch']}; "
        f"edgesieve {meta['edgesieve']}. Command: `{meta['command']}`.\n",
        "| model | input | batch | inference | closed-form DRIP | autograd Grad-CAM | Captum LayerGradCam | closed-form / inference | autograd / Captum |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['input']} | {r['batch']} | {r['inference_per_s']:,.0f} | {r['closed_form_per_s']:,.0f} | "
            f"{r['autograd_per_s']:,.0f} | {r['captum_per_s']:,.0f} | {r['closed_vs_inference']:.2f}x | {r['autograd_vs_captum']:.2f}x |"
        )
    lines.append(f"\nOne `DripSelector.decide` on one 28x28 sample (MNIST CNN, closed form): **{latency_ms:.3f} ms** (median).")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2, the target device)")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds of timing per cell")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = bench_model("MnistCNN", MnistCNN(), (1, 28, 28), args.batches, args.min_time)
    rows += bench_model("EfficientNetStyle", EfficientNetStyle(), (3, 64, 64), args.batches, args.min_time)
    latency = decision_latency_ms(args.min_time)
    print(f"decision latency at batch 1: {latency:.3f} ms")
    meta = {
        "edgesieve": __version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "command": "python benchmarks/bench_scoring.py " + " ".join(argv or []),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scoring.json").write_text(json.dumps({"meta": meta, "rows": rows, "decision_latency_ms": latency}, indent=1))
    (args.out / "scoring.md").write_text(to_markdown(rows, latency, meta))
    print(f"wrote {args.out / 'scoring.md'}")


if __name__ == "__main__":
    main()
