"""Device-side budgets: torch-free filter memory, per-sample filter latency, store write rate.

    python benchmarks/bench_device.py      # writes benchmarks/results/device.{md,json}

Uses the MNIST CNN. Its weights come from a short training run on real MNIST when the data
are fetched (else random weights; latency and memory do not depend on the weights).
Each filter run is a fresh `edgesieve filter` process, so peak RSS covers the whole process.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from edgesieve import DripSelector, __version__
from edgesieve.export import export_drip_onnx, lift_1d_to_2d
from edgesieve.export.quantize import quantize_filter
from edgesieve.models import MnistCNN, save_weights
from edgesieve.store import BatchTally, RetainedBatch, RetainedStore

RESULTS = Path(__file__).parent / "results"


def make_artifacts(folder: Path, n_stream: int) -> Path:
    try:
        from edgesieve.data import load_mnist
        from edgesieve.experiments.training import train_classifier

        x, y = load_mnist("train")
        stream = load_mnist("test")[0][:n_stream].numpy()
        torch.manual_seed(0)
        model = train_classifier(MnistCNN(), x[:4000], y[:4000], epochs=2, progress=False)
        calib = x[4000:6000]
    except FileNotFoundError:
        torch.manual_seed(0)
        model = MnistCNN().eval()
        calib = torch.rand(2000, 1, 28, 28)
        stream = np.random.default_rng(0).random((n_stream, 1, 28, 28), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selector = DripSelector(model).calibrate(calib)
    save_weights(model, folder / "model.safetensors")
    selector.save(folder / "drip.json")
    export_drip_onnx(selector, folder / "filter.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.rand(2, 1, 28, 28),), str(folder / "plain.onnx"), input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    quantize_filter(folder / "filter.onnx", folder / "filter_int8.onnx", calib.numpy(), stream[:1000])
    np.save(folder / "stream.npy", stream)
    np.save(folder / "stream_long.npy", np.tile(stream, (LONG // len(stream) + 1, 1, 1, 1))[:LONG])
    files = folder / "files"
    files.mkdir()
    for i, sample in enumerate(stream):
        np.save(files / f"{i:06d}.npy", sample)
    return folder


# A small launcher starts the filter and reports the child's own peak RSS: measured from this
# process, the child would inherit this process's (torch-sized) high-water mark through fork.
_LAUNCHER = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, status, usage = os.wait4(p.pid, 0); "
    "print(f'PEAK_RSS_KB {usage.ru_maxrss} RC {os.waitstatus_to_exitcode(status)}', file=sys.stderr)"
)


#: the long stream on which memory must stay flat
LONG = 100_000

# The plain-inference process a device already runs: the same model, exported plainly, in
# onnxruntime with the same threads, over the same stream read the same way (torch-free).
_PLAIN = (
    "import sys, numpy as np, onnxruntime as ort; from edgesieve.device.sources import open_source; "
    "o = ort.SessionOptions(); o.intra_op_num_threads = int(sys.argv[3]); "
    "s = ort.InferenceSession(sys.argv[1], o, providers=['CPUExecutionProvider']); "
    "[s.run(None, {'x': np.ascontiguousarray(x, np.float32)}) for _, x, _ in open_source(sys.argv[2], (1, 28, 28)).batches(0, 64)]"
)


def peak_rss_mb(command: list[str]) -> float:
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], capture_output=True, text=True)
    report = done.stderr.strip().splitlines()[-1].split()
    if report[0] != "PEAK_RSS_KB" or report[3] != "0":
        raise RuntimeError(done.stderr)
    return int(report[1]) / 1024


def memory_against_plain_inference(folder: Path) -> list[dict]:
    """Peak RSS of `filter --runtime onnx` (float and int8) and of plain inference, 10k and 100k arrivals."""
    rows = []
    for stream in ("stream.npy", "stream_long.npy"):
        n = len(np.load(folder / stream, mmap_mode="r"))
        plain = peak_rss_mb([sys.executable, "-c", _PLAIN, str(folder / "plain.onnx"), str(folder / stream), "2"])
        for name in ("filter.onnx", "filter_int8.onnx"):
            for store_kind, capacity in (("every kept sample", []),
                                         ("reservoir of 1,000", ["--max-samples", "1000", "--policy", "reservoir"]),
                                         ("PBRS of 1,000", ["--max-samples", "1000", "--policy", "pbrs"])):
                store = folder / f"mem_{name}_{n}_{len(capacity)}.db"
                rss = peak_rss_mb([sys.executable, "-m", "edgesieve", "filter", "--runtime", "onnx", "--model",
                                   str(folder / name), "--input", str(folder / stream), "--store", str(store), "--threads",
                                   "2", "--no-progress", *capacity])
                rows.append({"filter": name, "store": store_kind, "arrivals": n, "filter_peak_rss_mb": rss,
                             "plain_inference_peak_rss_mb": plain, "difference_mb": rss - plain})
                print(rows[-1], flush=True)
                for leftover in folder.glob(f"{store.name}*"):
                    leftover.unlink()  # a 100,000-arrival store of every kept sample is a quarter of a GB
    return rows


def run_filter_process(args: list[str]) -> dict:
    """Run one `edgesieve filter` process; return its peak RSS, wall time and latencies."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "edgesieve", "filter", *args, "--no-progress"],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - t0
    report = done.stderr.strip().splitlines()[-1].split()
    if report[0] != "PEAK_RSS_KB" or report[3] != "0":
        raise RuntimeError(done.stderr)
    line = next(l for l in done.stdout.splitlines() if l.startswith("per-sample latency"))
    latency = {k: float(v.split()[0]) for k, v in (p.strip().split(" ", 1) for p in line.split(":", 1)[1].split(","))}
    return {"peak_rss_mb": int(report[1]) / 1024, "wall_s": wall, **{f"latency_{k}_ms": v for k, v in latency.items()}}


def store_write_rate(folder: Path, n: int, synchronous: str, batch: int = 64) -> float:
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    with RetainedStore(folder / f"write_{synchronous}.db", synchronous=synchronous) as store:
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            arrivals = np.arange(i, i + batch)
            b = RetainedBatch(x, arrivals, arrivals % 10, rng.random(batch), ["outside_window"] * batch)
            store.commit("bench", b, BatchTally(i + batch, arrivals % 10, np.ones(batch, bool), x[0].nbytes))
        return n / (time.perf_counter() - t0)


DELAY_RATES_HZ = (1000, 4000, 16000)
DELAY_BUDGETS_MS = (None, 0.0, 2.0, 10.0)


def delay_budget(folder: Path, n: int = 3000) -> list[dict]:
    """`--max-delay-ms` at work: the MNIST stream replayed as a live sensor at several rates through
    the exported filter (onnxruntime, 2 threads, micro-batches of at most 64), for each budget:
    arrivals per batch, throughput and the latency from arrival to commit."""
    from edgesieve.device.filter_loop import run_filter
    from edgesieve.device.micro_batch import PacedSource
    from edgesieve.device.sources import open_source
    from edgesieve.runtime import OnnxFilter

    filt = OnnxFilter(folder / "filter.onnx", threads=2)
    rows = []
    for rate in DELAY_RATES_HZ:
        for budget in DELAY_BUDGETS_MS:
            db = folder / f"delay_{rate}_{budget}.db"
            with RetainedStore(db) as store:
                source = PacedSource(open_source(str(folder / "stream.npy"), filt.sample_shape), rate)
                s = run_filter(filt, source, store, batch_size=64, limit=n, progress=False, max_delay_ms=budget)
            for leftover in folder.glob(db.name + "*"):
                leftover.unlink()
            rows.append({"rate_hz": rate, "max_delay_ms": budget, "arrivals": s.seen, "mean_batch": s.mean_batch,
                         "throughput_hz": s.seen / s.elapsed_s, **{f"arrival_{k}_ms": v for k, v in s.arrival_latency_ms.items()},
                         "compute_p50_ms": s.latency_ms["p50"]})
            print(rows[-1], flush=True)
    return rows


# Batch 1 side by side: what a device engineer compares with the inference they already run.
BATCH_ONE_MODELS = (("mnist_cnn", (1, 28, 28)), ("audio_cnn", (1, 8000)), ("audio_resnet1d", (1, 8000)),
                    ("imu_cnn", (6, 100)))


def paired_medians(plain, ours, inputs) -> tuple[float, float]:
    """Median ms of ``plain(x)`` and ``ours(x)`` over single inputs, the two calls alternating
    sample by sample, so that load from anything else on the machine hits both alike."""
    for x in inputs[:20]:
        plain(x), ours(x)
    times = np.empty((len(inputs), 2))
    for i, x in enumerate(inputs):
        t0 = time.perf_counter()
        plain(x)
        t1 = time.perf_counter()
        ours(x)
        times[i] = t1 - t0, time.perf_counter() - t1
    return tuple(float(v) for v in 1000 * np.median(times, axis=0))


def torch_steps(selector, plain, inputs) -> dict:
    """Where a single arrival's time goes in ``DripSelector.decide``, in microseconds beyond plain
    inference: the prefixes of decide's own path (the forward of the split graph, its layers
    called directly; + the Grad-CAM tail after it; + the input and device checks; + the decision
    and the softmax = decide), each right after a plain forward (so each pays the caches a forward
    leaves behind, as on a device), taking turns sample by sample so that load from anything else
    hits them alike."""
    from edgesieve.validation import as_batch

    cam = selector.cam_
    prefixes = {
        "forward": lambda x: cam._forward_split(x, inference=True),
        "grad_cam_tail": cam._exact_outputs,
        "input_checks": lambda x: cam._exact_outputs(cam._on_model_device(as_batch(x, sample_shape=selector.sample_shape_))),
        "decision_and_softmax": selector.decide,
    }
    fns = list(prefixes.values())
    for x in inputs[:20]:
        plain(x), [f(x) for f in fns]
    times = np.empty((len(inputs), 2))
    for i, x in enumerate(inputs):
        t0 = time.perf_counter()
        plain(x)
        t1 = time.perf_counter()
        fns[i % len(fns)](x)
        times[i] = t1 - t0, time.perf_counter() - t1
    plain_us = 1e6 * float(np.median(times[:, 0]))
    total = [1e6 * float(np.median(times[k:: len(fns), 1])) - plain_us for k in range(len(fns))]
    return {step: total[k] - (total[k - 1] if k else 0.0) for k, step in enumerate(prefixes)}


class OutputsFloor(torch.nn.Module):
    """The plain model returning what the exported filter returns (score, predicted, keep,
    reason, softmax), each from the logits by one node: no Grad-CAM, no thresholds. No exported
    filter can be faster, so plain / floor bounds the ratio any filter graph can reach."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        logits = self.model(x)
        predicted = logits.argmax(dim=1)
        return logits.amax(dim=1), predicted, predicted > 0, predicted.to(torch.int8), logits.softmax(dim=1)


def _export_plain(module, shape, path: Path, lift: bool = False) -> None:
    """``module`` exported as torch.onnx.export writes it; ``lift``: then rewritten as the filter's
    graph is, its 1-D operators as 2-D ones (edgesieve.export.lift_1d)."""
    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.rand(2, *shape),), str(path), input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    if lift:
        onnx.save(lift_1d_to_2d(onnx.load(str(path)))[0], str(path))


def batch_one(folder: Path, n: int = 2000) -> list[dict]:
    """One arrival at a time, one thread: plain inference against our filter, per model, in torch
    (``model(x)`` under no_grad against ``DripSelector.decide``) and in onnxruntime (the model
    exported plainly against the exported filter, same session options). Random weights: the
    time does not depend on them."""
    import onnxruntime as ort

    from edgesieve.models import build_model
    from edgesieve.runtime import OnnxFilter

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    for name, shape in BATCH_ONE_MODELS:
        torch.manual_seed(0)
        model = build_model(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            selector = DripSelector(model).calibrate(torch.rand(400, *shape))
        inputs = torch.rand(n, 1, *shape)

        def plain(x):
            with torch.no_grad():
                return model(x)

        torch_plain, torch_ours = paired_medians(plain, selector.decide, inputs)
        cam = selector.cam_
        steps = forward = None
        if cam.proven_closed_form:
            steps = torch_steps(selector, plain, torch.rand(4 * n, 1, *shape))
            # decide's own forward alone: the split graph, its layers called directly, under inference mode
            _, forward = paired_medians(plain, lambda x: cam._forward_split(x, inference=True), inputs)

        def plain_inference_mode(x):  # the fastest plain call a user has without our forward
            with torch.inference_mode():
                return model(x)

        strict_plain, strict_ours = paired_medians(plain_inference_mode, selector.decide, inputs)
        grad_cam = "GAP + linear closed form" if cam.uses_closed_form else "autograd" if cam.needs_backward else "flatten-MLP closed form"
        row = {"model": name, "sample_shape": list(shape), "grad_cam": grad_cam,
               "torch_plain_ms": torch_plain, "torch_filter_ms": torch_ours, "torch_ratio": torch_plain / torch_ours,
               "torch_steps_us": steps, "torch_forward_ms": forward,
               "torch_plain_inference_mode_ms": strict_plain, "torch_filter_vs_inference_mode_ms": strict_ours,
               "torch_ratio_vs_inference_mode": strict_plain / strict_ours}
        if not cam.needs_backward:
            export_drip_onnx(selector, folder / f"{name}_filter.onnx")
            _export_plain(model, shape, folder / f"{name}_plain.onnx")
            _export_plain(model, shape, folder / f"{name}_lifted.onnx", lift=True)
            _export_plain(OutputsFloor(model), shape, folder / f"{name}_floor.onnx", lift=True)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session, lifted, floor = (ort.InferenceSession(str(folder / f"{name}_{kind}.onnx"), options,
                                                           providers=["CPUExecutionProvider"])
                                      for kind in ("plain", "lifted", "floor"))
            filt = OnnxFilter(folder / f"{name}_filter.onnx", threads=1)
            arrays = inputs.numpy()
            plain_run, graph_run, floor_run, lifted_run = (
                (lambda x, s=s: s.run(None, {"x": x})) for s in (session, filt.session, floor, lifted))
            onnx_plain, onnx_ours = paired_medians(plain_run, filt.decide, arrays)
            _, graph_only = paired_medians(plain_run, graph_run, arrays)
            floor_plain, floor_ms = paired_medians(plain_run, floor_run, arrays)
            # the filter's own cost: against the plain model rewritten as the filter's graph is
            lifted_plain, lifted_ours = paired_medians(lifted_run, filt.decide, arrays)
            row.update(onnx_plain_ms=onnx_plain, onnx_filter_ms=onnx_ours, onnx_ratio=onnx_plain / onnx_ours,
                       onnx_filter_graph_only_ms=graph_only,
                       onnx_outputs_floor_ms=floor_ms, onnx_outputs_floor_ratio=floor_plain / floor_ms,
                       onnx_plain_lifted_ms=lifted_plain, onnx_filter_vs_lifted_ms=lifted_ours,
                       onnx_ratio_vs_lifted=lifted_plain / lifted_ours)
        rows.append(row)
        print(row, flush=True)
    torch.set_num_threads(threads)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000, help="stream length (default: the 10,000 MNIST test images)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", choices=("delay", "batch1", "memory"),
                        help="measure only this part; the rest of device.json is kept")
    args = parser.parse_args(argv)
    if args.only:
        with tempfile.TemporaryDirectory() as tmp:
            data = json.loads((args.out / "device.json").read_text())
            if args.only == "delay":
                data["delay_budget"] = delay_budget(make_artifacts(Path(tmp), args.samples))
            elif args.only == "memory":
                data["memory_against_plain_inference"] = memory_against_plain_inference(make_artifacts(Path(tmp), args.samples))
            else:
                data["batch_one"] = batch_one(Path(tmp))
        (args.out / "device.json").write_text(json.dumps(data, indent=1))
        write_markdown(args.out, data)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_artifacts(Path(tmp), args.samples)
        common = ["--batch-size", "64", "--threads", "2"]
        runs = [
            ("onnx (torch-free)", "folder of .npy files", ["--runtime", "onnx", "--model", str(folder / "filter.onnx"), "--input", str(folder / "files")]),
            ("onnx (torch-free)", ".npy array (read by batch)", ["--runtime", "onnx", "--model", str(folder / "filter.onnx"), "--input", str(folder / "stream.npy")]),
            ("torch", ".npy array (read by batch)", ["--model", "mnist_cnn", "--weights", str(folder / "model.safetensors"), "--selector", str(folder / "drip.json"), "--input", str(folder / "stream.npy")]),
        ]
        for i, (runtime, source, extra) in enumerate(runs):
            result = run_filter_process([*extra, "--store", str(folder / f"r{i}.db"), *common])
            rows.append({"runtime": runtime, "input": source, **result})
            print(rows[-1], flush=True)
        memory = memory_against_plain_inference(folder)
        writes = {s: store_write_rate(folder, 20_000, s) for s in ("FULL", "NORMAL")}
        print("store writes/s:", writes)
        delay = delay_budget(folder)
        single = batch_one(folder)
    meta = {"edgesieve": __version__, "torch": torch.__version__, "platform": platform.platform(),
            "samples": args.samples, "command": "python benchmarks/bench_device.py " + " ".join(argv or [])}
    args.out.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "filter": rows, "memory_against_plain_inference": memory, "store_writes_per_s": writes,
            "delay_budget": delay, "batch_one": single}
    (args.out / "device.json").write_text(json.dumps(data, indent=1))
    write_markdown(args.out, data)


def batch_one_markdown(rows: list[dict]) -> list[str]:
    lines = ["One arrival at a time (batch 1, one thread, median ms over 2,000 random inputs, plain and ours "
             "alternating sample by sample; `python benchmarks/bench_device.py --only batch1` measures this table "
             "alone). Plain: the model's own inference, `model(x)` under no_grad in torch, the model exported plainly "
             "(`torch.onnx.export`) in onnxruntime (same session options as the filter). Ours: `DripSelector.decide` "
             "(input checks, score, decision, softmax) and the exported filter's `OnnxFilter.decide`. Ratio = plain / "
             "ours; goal at least 0.9. Our forward: decide's own forward alone (the split graph with its layers calling "
             "their kernels directly, `edgesieve.cam.direct`, bit-identical to the module calls, under inference mode), "
             "timed against plain in its own paired run; filter work = ours minus our forward: what the checks, "
             "Grad-CAM, decision and softmax cost on top of it. The exported filter runs 1-D convolutions, poolings "
             "and batch norms as 2-D ones on maps of height one (`edgesieve.export.lift_1d`; onnxruntime's faster "
             "kernels); plain lifted: the plain model rewritten the same way, against which the ratio is the filter's "
             "own cost (its own paired run; equal to plain for the 2-D MNIST CNN). Floor: the plain model, lifted, "
             "returning the filter's five outputs, each computed from the logits by one node (no Grad-CAM, no "
             "thresholds), timed against plain in its own paired run; its ratio bounds what any exported filter graph "
             "with these outputs can reach in onnxruntime.\n",
             "| model | input | Grad-CAM | torch plain | torch ours | ratio | our forward | filter work (us) "
             "| onnxruntime plain | onnxruntime ours | ratio | plain lifted | ratio to it | outputs-only floor | floor ratio |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    steps = [r for r in rows if r.get("torch_steps_us")]
    for r in rows:
        form = r["grad_cam"]
        floor = (f"{r['onnx_outputs_floor_ms']:.3f} | {r['onnx_outputs_floor_ratio']:.2f}x" if "onnx_outputs_floor_ms" in r
                 else "- | -")
        lifted = (f"{r['onnx_plain_lifted_ms']:.3f} | {r['onnx_ratio_vs_lifted']:.2f}x" if "onnx_plain_lifted_ms" in r
                  else "- | -")
        onnx = (f"{r['onnx_plain_ms']:.3f} | {r['onnx_filter_ms']:.3f} | {r['onnx_ratio']:.2f}x | {lifted} | {floor}"
                if "onnx_ratio" in r else "- | not exported (its Grad-CAM needs a backward pass) | - | - | - | - | -")
        forward = r.get("torch_forward_ms")
        own = (f"{forward:.3f} | {1000 * (r['torch_filter_ms'] - forward):.0f}" if forward is not None else "- | -")
        lines.append(f"| {r['model']} | {'x'.join(map(str, r['sample_shape']))} | {form} | {r['torch_plain_ms']:.3f} | "
                     f"{r['torch_filter_ms']:.3f} | {r['torch_ratio']:.2f}x | {own} | {onnx} |")
    strict = [r for r in rows if "torch_ratio_vs_inference_mode" in r]
    if strict:
        lines += ["", "Against the fastest plain call a torch user has without our forward, `model(x)` under "
                  "`torch.inference_mode()` (its own paired run):", "",
                  "| model | torch plain, inference_mode | torch ours | ratio |", "|---|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['torch_plain_inference_mode_ms']:.3f} | {r['torch_filter_vs_inference_mode_ms']:.3f} | "
                  f"{r['torch_ratio_vs_inference_mode']:.2f}x |" for r in strict]
    if steps:
        lines += ["", "Where a single arrival's time goes beyond plain inference (microseconds, medians; torch: the "
                  "prefixes of `decide`'s own path, each run right after a plain forward and taking turns sample by "
                  "sample, each step the longer prefix minus the shorter; a negative forward: decide's forward is "
                  "faster than `model(x)`; onnxruntime: the plain model lifted to 2-D against it as exported (negative: "
                  "faster), the filter graph alone against the lifted plain graph, then `OnnxFilter.decide`'s checks "
                  "and conversions; steps from separate medians, so they add up to the ratio's difference only "
                  "roughly):", "",
                  "| model | torch: forward of the split graph | + Grad-CAM tail | + input and device checks | "
                  "+ decision and softmax | onnxruntime: lift to 2-D | + filter graph | + wrapper |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in steps:
            t = r["torch_steps_us"]
            onnx = "- | - | -"
            if "onnx_plain_lifted_ms" in r:
                onnx = (f"{1000 * (r['onnx_plain_lifted_ms'] - r['onnx_plain_ms']):+.0f} | "
                        f"{1000 * (r['onnx_filter_graph_only_ms'] - r['onnx_plain_lifted_ms']):+.0f} | "
                        f"{1000 * (r['onnx_filter_ms'] - r['onnx_filter_graph_only_ms']):+.0f}")
            lines.append(f"| {r['model']} | {t['forward']:+.0f} | {t['grad_cam_tail']:+.0f} | {t['input_checks']:+.0f} | "
                         f"{t['decision_and_softmax']:+.0f} | {onnx} |")
    return lines + [""]


def write_markdown(out: Path, data: dict) -> None:
    meta, rows, memory, writes = data["meta"], data["filter"], data["memory_against_plain_inference"], data["store_writes_per_s"]
    lines = [
        "# Device budgets (MNIST CNN, 2 threads, micro-batches of 64)\n",
        f"Command: `{meta['command']}`; {meta['samples']} MNIST-sized samples; {meta['platform']}.\n",
    ]
    if data.get("batch_one"):
        lines += batch_one_markdown(data["batch_one"])
    lines += [
        "| runtime | input | peak RSS of the whole process (MB) | p50 ms/sample | p90 | p99 | wall s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['runtime']} | {r['input']} | {r['peak_rss_mb']:.0f} | {r['latency_p50_ms']:.3f} | "
                     f"{r['latency_p90_ms']:.3f} | {r['latency_p99_ms']:.3f} | {r['wall_s']:.1f} |")
    lines.append("\nLatency = score + decision + store write (one SQLite transaction per micro-batch, synchronous=FULL), per sample.\n")
    lines += ["Memory against a process that only runs the same model, exported plainly, in onnxruntime over the same "
              "stream (same threads, same batches of 64, the .npy read batch by batch); the filter stores every sample "
              "it keeps, or keeps 1,000 by a capacity policy (reservoir; PBRS, a label-free balancing store with its state "
              "in JSON). Goal: at most 10 MB more, flat in the stream's length. The store draws its random numbers with "
              "`edgesieve.pcg64` (numpy's PCG64 in pure Python, the same draws), not `numpy.random`, whose import alone "
              "costs about 7 MB here.\n",
              "| filter | store | arrivals | filter process peak RSS (MB) | plain inference (MB) | difference (MB) |",
              "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {m['filter']} | {m['store']} | {m['arrivals']:,} | {m['filter_peak_rss_mb']:.1f} | "
              f"{m['plain_inference_peak_rss_mb']:.1f} | {m['difference_mb']:+.1f} |" for m in memory]
    lines.append("")
    lines.append("| store writes, retained MNIST samples (float32 28x28), batches of 64 | samples/s |")
    lines.append("|---|---:|")
    for sync, rate in writes.items():
        lines.append(f"| synchronous={sync} (WAL) | {rate:,.0f} |")
    if data.get("delay_budget"):
        lines += ["", "`--max-delay-ms D` on a live stream (`--arrival-rate HZ` replays the MNIST stream as a sensor at a "
                  "fixed rate; onnxruntime, 2 threads, micro-batches of at most 64; `python benchmarks/bench_device.py "
                  "--only delay` measures this table alone): a batch is decided when full or when waiting longer would "
                  "hold its first arrival past D; off = full batches only. Latency from arrival to commit.\n",
                  "| arrivals/s offered | max delay | arrivals per batch | arrivals/s handled | latency p50 ms | p90 | p99 | compute ms/sample (p50) |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in data["delay_budget"]:
            budget = "off (full batches)" if r["max_delay_ms"] is None else f"{r['max_delay_ms']:g} ms"
            lines.append(f"| {r['rate_hz']:,} | {budget} | {r['mean_batch']:.1f} | {r['throughput_hz']:,.0f} | "
                         f"{r['arrival_p50_ms']:.2f} | {r['arrival_p90_ms']:.2f} | {r['arrival_p99_ms']:.2f} | {r['compute_p50_ms']:.3f} |")
    (out / "device.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'device.md'}")


if __name__ == "__main__":
    main()
