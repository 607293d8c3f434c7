"""Running one task of a grid (in a Ray worker, or in-process): load the data set once per
process, run the protocol, return the records of the task's cells. Pure computation: the
driver writes the files, so workers on other machines need no shared folder."""

from __future__ import annotations

import math
import platform
import resource
import sys
import time
from functools import lru_cache

import numpy as np
import torch

from edgesieve._version import __version__
from edgesieve.data.registry import dataset_spec, load_dataset
from edgesieve.experiments.allocator import keep_freed_memory
from edgesieve.experiments.grid.spec import GridError, Task
from edgesieve.experiments.online import evaluate, prepare, run_online, streamed_training_set
from edgesieve.experiments.protocol import RunContext, run_once
from edgesieve.experiments.statistics import first_reach
from edgesieve.hooks import eval_mode
from edgesieve.models.registry import model_factory


@lru_cache(maxsize=2)
def _bundle(dataset: str):
    return load_dataset(dataset)  # Ray reuses worker processes: a data set is read once per worker


def versions() -> dict:
    """What a cell was computed with. The CPU too: torch picks its kernels by the CPU's vector
    instructions, and a cell recomputed on another kind of CPU can differ in the last bits, which
    SGD then amplifies (a statistically equal draw, not the same numbers)."""
    import scipy

    return {"edgesieve": __version__, "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "cpu": _cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


@lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor()


def run_task(task: Task, threads: int = 1) -> list[dict]:
    """The records of every cell of ``task`` (same order as ``task.cells``)."""
    torch.set_num_threads(threads)  # a reused worker keeps the count of its first task otherwise
    allocator = keep_freed_memory()
    start = time.perf_counter()
    metrics = {"titan": _titan, "drip": _drip, "store": _store}[task.grid.protocol](task)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 ** 2)
    return [{
        "cell": cell.name, "protocol": cell.protocol, "dataset": cell.dataset, "stream": cell.stream,
        "method": cell.method, "seed": cell.seed, "config": task.grid.cell_config(cell),
        "config_hash": task.grid.config_hash(cell), "versions": versions(), "metrics": metrics[cell.method],
        "wall_time_s": wall / len(task.cells), "task_wall_time_s": wall, "task_cells": len(task.cells),
        "peak_rss_mb": peak_mb, "threads": threads, "allocator": allocator,
    } for cell in task.cells]


def _titan(task: Task) -> dict:
    (method,) = task.methods
    bundle = _bundle(task.dataset)
    grid, settings = task.grid, task.grid.titan_grid_settings(task.dataset)
    probe = grid.titan_config(task.dataset, method, task.seed)
    if task.stream == "iid" and settings["iid_stream"] == "shuffled_training_set":
        x, y, stream, val = torch.from_numpy(bundle.x), torch.from_numpy(bundle.y), None, None  # run_online shuffles
        length = len(y) - probe.calibration
    else:
        x, y, stream, val, length = streamed_training_set(bundle, task.stream, task.seed, probe,
                                                          validation=settings["validation"], pool=settings["pool"])
    cfg = grid.titan_config(task.dataset, method, task.seed, rounds=length // probe.v)
    if settings["eval_on"] == "validation":
        x_eval, y_eval = bundle.x[val], bundle.y[val]
    else:
        x_eval, y_eval = bundle.x_test, bundle.y_test
    x_eval, y_eval = torch.from_numpy(x_eval), torch.from_numpy(y_eval)
    subset = settings["eval_subset"]
    if subset is not None and subset < len(y_eval):  # a fixed subset along the curve, the same for every cell
        keep = torch.from_numpy(np.sort(np.random.default_rng(99).permutation(len(y_eval))[:subset]))
        x_curve, y_curve = x_eval[keep], y_eval[keep]
    else:
        x_curve, y_curve = x_eval, y_eval
    torch.manual_seed(task.seed)  # the same initial model for every method of a seed
    model = _checked_model(grid.model_name(task.dataset), task.dataset, x[:2], bundle.n_classes)
    res = run_online(model, x, y, x_curve, y_curve, bundle.n_classes, cfg, stream=stream)
    metrics = online_metrics(res.curve, res.round_seconds, res.coarse_ms_per_sample, res.fine_ms,
                             calibration_seconds=res.calibration_seconds, target=settings["target_accuracy"])
    end_point = f"{settings['eval_on']}_accuracy"
    if len(y_curve) == len(y_eval) and cfg.mode != "pipelined":
        # the curve's last point is the end point already (a pipelined curve ran on the pipeline's threads)
        metrics[end_point] = res.curve[-1][1]
    elif settings["end_point"]:
        model, x_eval = prepare(model, x_eval, cfg)
        metrics[end_point] = evaluate(model, x_eval, y_eval)  # the whole split, at the end
    metrics.update(rounds=cfg.rounds, stream_length=length, curve_on=f"{settings['eval_on']}"
                   + (f" subset of {len(y_curve)}" if len(y_curve) < len(y_eval) else ""))
    return {method: metrics}


def _checked_model(name: str, dataset: str, probe: torch.Tensor, n_classes: int):
    """A fresh model, checked on two samples: a model that does not take the data set's samples
    or returns the wrong number of classes gets one clear line, not an error deep in training."""
    model = model_factory(name)()
    try:
        with eval_mode(model), torch.no_grad():
            logits = model(probe)
    except RuntimeError as err:
        raise GridError(f"model {name!r} does not take data set {dataset!r}'s samples "
                        f"(shape {tuple(probe.shape[1:])}): {str(err).splitlines()[0]}") from None
    if logits.ndim != 2 or logits.shape[1] != n_classes:
        raise GridError(f"model {name!r} returns outputs of shape {tuple(logits.shape[1:])}; data set {dataset!r} has {n_classes} classes")
    return model


def online_metrics(curve, round_seconds, coarse_ms, fine_ms, calibration_seconds: float = 0.0,
                   target: float | None = None) -> dict:
    """Metrics of one online run that survive SGD noise, plus the single end point.

    ``last20_accuracy``: mean test accuracy over the last 20% of evaluations (at least one);
    ``auc``: area under the accuracy curve over the evaluated rounds, divided by their span
    (the mean accuracy along training); ``curve`` and cumulative seconds at each evaluation
    let the report compute time-to-accuracy against RS; they start with the selector's
    calibration (RHO-LOSS trains its irreducible-loss model there). With a ``target`` accuracy,
    ``rounds_to_target`` and ``seconds_to_target``: where the smoothed curve first reaches it
    (null when it never does).
    """
    rounds = np.array([r for r, _ in curve], dtype=float)
    acc = np.array([a for _, a in curve], dtype=float)
    tail = max(1, math.ceil(0.2 * len(acc)))
    auc = float(np.trapezoid(acc, rounds) / (rounds[-1] - rounds[0])) if len(acc) > 1 else float(acc[-1])
    cumulative = calibration_seconds + np.cumsum(round_seconds)
    seconds_at_eval = [float(cumulative[int(r) - 1]) for r in rounds]
    reached = None if target is None else first_reach(curve, seconds_at_eval, target)
    timing = {} if target is None else {"target_accuracy": target, "rounds_to_target": reached and reached[0],
                                        "seconds_to_target": reached and reached[1]}
    return {**timing,
        "final_accuracy": float(acc[-1]), "last20_accuracy": float(acc[-tail:].mean()), "auc": auc,
        "curve": [[int(r), float(a)] for r, a in curve],
        "seconds_at_eval": seconds_at_eval,
        "round_ms_mean": 1000 * float(np.mean(round_seconds)),
        "calibration_seconds": float(calibration_seconds),
        "coarse_ms_per_sample": float(np.median(coarse_ms)) if coarse_ms else None,
        "fine_ms": float(np.median(fine_ms)) if fine_ms else None,
    }


def _drip(task: Task) -> dict:
    """Every method of one seed from one run: the baseline and all-data models are shared by
    every DPW the task's methods name (``drip:dpw=0.1``), each DPW's random arm keeps as many as
    the selector did at that DPW."""
    from edgesieve.experiments.grid.spec import drip_method

    bundle = _bundle(task.dataset)
    grid = task.grid
    cfg = grid.drip_config(task.dataset, task.stream, grid.task_dpws(task))
    ctx = RunContext(bundle, model_factory(dataset_spec(task.dataset).model), cfg, progress=False)
    record = run_once(ctx, task.seed)  # cfg.seed is 0: run index = seed, as `reproduce drip` numbers its runs
    out = {}
    for method in task.methods:
        base = drip_method(method)[0]
        if base in ("baseline", "all_data"):
            out[method] = _arm(record[base])
        else:
            out[method] = drip_arm_metrics(record["by_dpw"][f"{grid.dpw(task.dataset, method):g}"], base == "random")
        out[method]["sizes"] = record["sizes"]
    return out


#: what a DRIP-protocol cell of the selector records about what it kept (the storage columns)
KEPT_KEYS = ("retained", "retention", "savings", "bytes_d3", "bytes_saved", "decision_ms_per_point",
             "noisy_label_share_kept", "noisy_label_share_d3")


def drip_arm_metrics(entry: dict, random_arm: bool) -> dict:
    """The metrics of the selector's or the random arm's cell from one DPW entry of a run."""
    if random_arm:
        return {**_arm(entry["random"]), "retained": entry["retained"], "savings": entry["savings"]}
    return {**_arm(entry["selector"]), **{k: entry[k] for k in KEPT_KEYS},
            **({"split_half_agreement": entry["split_half_agreement"]} if entry.get("split_half_agreement") is not None else {})}


def _store(task: Task) -> dict:
    from edgesieve.experiments.capacity import run_capacity_once

    bundle = _bundle(task.dataset)
    grid = task.grid
    ctx = RunContext(bundle, model_factory(dataset_spec(task.dataset).model), grid.drip_config(task.dataset, task.stream),
                     progress=False)
    out = run_capacity_once(ctx, task.seed, grid.capacity(task.dataset), task.methods, grid.class_source(task.dataset))
    sizes = out.pop("sizes")
    return {m: {**v, "sizes": sizes} for m, v in out.items()}


def _arm(result: dict) -> dict:
    return {"test_accuracy": result["acc"], "macro_f1": result["f1"]}
