"""The pipelined online trainer: selection in a worker process, the model update in the caller.

Measured choice (benchmarks/bench_titan.py): a worker *thread* made rounds slower than running
selection and training one after another on 2 cores (the threads fight over the GIL and
torch's thread pools), so selection runs in its own process with one torch thread and the
trainer keeps the other core.

Per round t the trainer (1) takes the batch the worker chose for round t, (2) copies its model
into the shared-memory snapshot, (3) asks the worker for round t+1, (4) trains on round t's
batch. So round t+1 is selected with the model before update t: the paper's one-round delay,
overlapping selection with the update. Only indices and weights cross back; the stream's data
is shared memory, read by both sides.

With ``stream_budget="train_time"`` the worker examines only as many of a round's samples as
its measured cost lets it finish within the trainer's last step (at least one batch): the
selector then never stalls training, and ``OnlineResult.coverage`` reports the share of the
stream it saw (the paper's "fluctuating idle resources", in the other direction).

Failure: an exception in the worker is sent back and raised in the caller as RuntimeError; a
worker that dies without a word is noticed within half a second; whatever happens, the worker
is stopped (asked, then terminated, then killed) before the call returns.
"""

from __future__ import annotations

import copy
import os
import pickle
import queue
import time
import traceback

import torch
import torch.multiprocessing as mp

from edgesieve.experiments.allocator import keep_freed_memory
from edgesieve.experiments.online_round import OnlineResult, make_selector, select_round

POLL_SECONDS = 0.5
JOIN_SECONDS = 10.0


def core_split() -> tuple[set[int], set[int]]:
    """(trainer's CPU, selection worker's CPU) for ``pin_cores``: the first and the last CPU this
    process may run on."""
    if not hasattr(os, "sched_setaffinity"):
        raise RuntimeError("pin_cores needs Linux (os.sched_setaffinity); run without it")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise RuntimeError(f"pin_cores splits two CPUs between trainer and selector; this process may use {len(cpus)}")
    return {cpus[0]}, {cpus[-1]}


def _worker(snapshot, x, y, stream, cfg, feature_layer, requests, results, cpus=None) -> None:
    try:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        torch.set_num_threads(1)
        keep_freed_memory()  # the worker is a process of its own (spawned): the trainer's setting is not inherited
        cal = stream.held_out
        selector = make_selector(cfg, snapshot, feature_layer).calibrate(x[cal], y[cal])
        results.put(("ready",))
        timings = OnlineResult()
        ms_per_sample = None  # running estimate of this selector's cost, for the stream budget
        parent = mp.parent_process()
        while True:
            try:
                request = requests.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    return  # the trainer died without a word (SIGKILL): never outlive it
                continue
            if request is None:
                return
            t, budget_ms = request
            idx = stream.next_round()
            if budget_ms is not None and ms_per_sample is not None:  # examine what fits in the budget
                idx = idx[: max(cfg.batch, min(len(idx), int(budget_ms / ms_per_sample)))]
            start = time.perf_counter()
            pick, w = select_round(selector, x, y, idx, t, cfg, timings, cal)
            cost = 1000 * (time.perf_counter() - start) / len(idx)
            ms_per_sample = cost if ms_per_sample is None else 0.7 * ms_per_sample + 0.3 * cost
            coarse = timings.coarse_ms_per_sample.pop() if timings.coarse_ms_per_sample else None
            results.put(("batch", t, pick.numpy(), w.numpy(), coarse, timings.fine_ms.pop(), len(idx) / cfg.v))
    except BaseException as err:  # noqa: BLE001 - everything is reported to the caller
        results.put(("error", f"{type(err).__name__}: {err}", traceback.format_exc()))


def _receive(results, proc):
    while True:
        try:
            msg = results.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the selection worker died (exit code {proc.exitcode})") from None
            continue
        if msg[0] == "error":
            raise RuntimeError(f"the selection worker failed: {msg[1]}\n--- worker traceback ---\n{msg[2]}")
        return msg


def _stop(proc, requests) -> None:
    try:
        requests.put_nowait(None)
    except Exception:  # noqa: BLE001 - a broken queue must not keep the worker alive
        pass
    proc.join(JOIN_SECONDS)
    if proc.is_alive():
        proc.terminate()
        proc.join(JOIN_SECONDS)
    if proc.is_alive():
        proc.kill()
        proc.join()


def run_pipelined(model, x, y, stream, trainer, cfg, result: OnlineResult, evaluate_round, *, feature_layer=None) -> None:
    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    snapshot = copy.deepcopy(model).share_memory()
    requests, results = ctx.Queue(), ctx.Queue()
    trainer_cpus, worker_cpus = core_split() if cfg.pin_cores else (None, None)
    proc = ctx.Process(target=_worker, name="titan-selector",
                       args=(snapshot, x, y, stream, cfg, feature_layer, requests, results, worker_cpus), daemon=True)
    threads = torch.get_num_threads()
    affinity = os.sched_getaffinity(0) if trainer_cpus is not None else None
    try:
        proc.start()
    except (AttributeError, TypeError, pickle.PicklingError) as err:
        raise TypeError(f"pipelined mode hands a copy of the model to a worker process, so the model must be "
                        f"picklable (no lambda hooks, classes importable by name): {err}; "
                        "or use mode='sequential'") from err
    try:
        torch.set_num_threads(1)  # one core trains, the other selects
        if trainer_cpus is not None:
            os.sched_setaffinity(0, trainer_cpus)
        _receive(results, proc)  # ready: the worker's start-up is not a round
        requests.put((0, None))
        targets = list(snapshot.state_dict().values())
        sources = list(model.state_dict().values())
        step_ms = None
        for t in range(cfg.rounds):
            start = time.perf_counter()
            _, _, pick, w, coarse, fine, coverage = _receive(results, proc)
            with torch.no_grad():
                for dst, src in zip(targets, sources):
                    dst.copy_(src)
            if t + 1 < cfg.rounds:
                requests.put((t + 1, step_ms if cfg.stream_budget == "train_time" else None))
            pick = torch.from_numpy(pick)
            step_start = time.perf_counter()
            trainer.step(x[pick], y[pick], torch.from_numpy(w))
            step_ms = 1000 * (time.perf_counter() - step_start)
            result.round_seconds.append(time.perf_counter() - start)
            if coarse is not None:
                result.coarse_ms_per_sample.append(coarse)
            result.fine_ms.append(fine)
            result.coverage.append(coverage)
            evaluate_round(t)
    finally:
        torch.set_num_threads(threads)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)  # the caller's CPUs back, whatever happened
        _stop(proc, requests)
