"""Titan's online-training protocol (SPEC section 2): rounds of v streaming samples, a coarse
filter into a small buffer, a fine selection of |B| samples, one SGD step per round.

Three execution modes, so their per-round time can be compared in one run:
  train_only  one SGD step on a random batch of the round (no selection at all);
  sequential  coarse filter, fine selection and the step one after another;
  pipelined   the coarse filter and fine selection run in a worker thread on a snapshot of the
              model taken once per round, while the main thread trains: the batch trained in
              round t was selected with the model of round t-1 (the paper's one-round delay).
An exception in the worker stops the run and is raised in the caller; the worker never
outlives the call.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from edgesieve.titan.coarse import CoarseFilter
from edgesieve.titan.fine import logits_and_features, select_batch

MODES = ("train_only", "sequential", "pipelined")


@dataclass(frozen=True)
class OnlineConfig:
    method: str = "titan"
    rounds: int = 500
    v: int = 100  # samples arriving per round
    buffer: int = 30  # candidate buffer capacity
    batch: int = 10  # samples per SGD step
    lr: float = 0.1
    lr_decay: float = 0.95
    decay_every: int = 100
    eval_every: int = 50
    seed: int = 0
    mode: str = "sequential"
    lambda_rep: float = 1.0
    lambda_div: float = 1.0
    importance_weights: bool = False
    # the coarse filter is Titan's stage 1; the baselines pick from the round's v samples unless
    # this is set (then every method picks from the same filtered buffer)
    coarse_for_all: bool = False

    def __post_init__(self):
        if self.v < 1 or self.rounds < 1 or self.eval_every < 1:
            raise ValueError("v, rounds and eval_every must be positive")
        if self.batch < 1 or self.buffer < self.batch:
            raise ValueError(f"the buffer ({self.buffer}) must hold at least one batch ({self.batch})")
        if self.v < self.batch:
            raise ValueError(f"v ({self.v}) must be at least the batch size ({self.batch})")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")


@dataclass
class OnlineResult:
    curve: list = field(default_factory=list)  # (round, test accuracy)
    round_seconds: list = field(default_factory=list)
    coarse_ms_per_sample: list = field(default_factory=list)
    fine_ms: list = field(default_factory=list)

    @property
    def final_accuracy(self) -> float:
        return self.curve[-1][1] if self.curve else float("nan")


class ShallowFeatures:
    """Output of one early layer, computed by stopping the forward pass there (so the
    coarse filter costs a fraction of a full forward)."""

    class _Stop(Exception):
        pass

    def __init__(self, model: nn.Module, layer: str):
        self.model, self.layer = model, model.get_submodule(layer)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = []

        def hook(module, inputs, output):
            out.append(output)
            raise ShallowFeatures._Stop

        handle = self.layer.register_forward_hook(hook)
        try:
            self.model(x)
        except ShallowFeatures._Stop:
            pass
        finally:
            handle.remove()
        return out[0].flatten(1)


def first_activation(model: nn.Module) -> str:
    """Name of the first activation module: the end of the model's first block."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.LeakyReLU)):
            return name
    raise ValueError("no activation module found; name the shallow-feature layer explicitly")


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model needs a final nn.Linear layer for last-layer gradient norms")
    return linears[-1]


class Stream:
    """A seeded stream over a training set, v samples per round; raises when it runs dry."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, v: int, seed: int):
        self.x, self.y, self.v = x, y, v
        self.order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
        self.position = 0

    def next_round(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.position + self.v > len(self.order):
            raise ValueError(
                f"the stream ended early: round needs {self.v} samples, {len(self.order) - self.position} left; "
                "use fewer rounds or a larger training set"
            )
        idx = self.order[self.position : self.position + self.v]
        self.position += self.v
        return self.x[idx], self.y[idx]


def run_online(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
               n_classes: int, cfg: OnlineConfig, *, feature_layer: str | None = None) -> OnlineResult:
    """Train ``model`` online on a stream drawn from (x, y); evaluate on the test set every
    ``eval_every`` rounds. Returns the accuracy curve and per-stage timings."""
    torch.manual_seed(cfg.seed)
    stream = Stream(x, y, cfg.v, cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.decay_every, gamma=cfg.lr_decay)
    result = OnlineResult()
    selector = _RoundSelector(cfg, n_classes, feature_layer, gen, result)

    def train_step(bx, by, w):
        model.train()
        loss = nn.functional.cross_entropy(model(bx), by, reduction="none")
        loss = (loss * w).mean() if cfg.importance_weights else loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()

    if cfg.mode == "pipelined":
        _run_pipelined(model, stream, selector, train_step, cfg, result, x_test, y_test)
    else:
        for t in range(cfg.rounds):
            start = time.perf_counter()
            rx, ry = stream.next_round()
            if cfg.mode == "train_only":
                idx = torch.randperm(cfg.v, generator=gen)[: cfg.batch]
                train_step(rx[idx], ry[idx], torch.ones(cfg.batch))
            else:
                train_step(*selector.select(model, rx, ry))
            result.round_seconds.append(time.perf_counter() - start)
            _maybe_evaluate(model, t, cfg, result, x_test, y_test)
    return result


class _RoundSelector:
    """Coarse filter + fine selection for one round, on a given model (or snapshot)."""

    def __init__(self, cfg: OnlineConfig, n_classes: int, feature_layer: str | None, gen, result: OnlineResult):
        self.cfg, self.n_classes, self.feature_layer, self.gen, self.result = cfg, n_classes, feature_layer, gen, result
        self.filter = None

    def select(self, model: nn.Module, rx: torch.Tensor, ry: torch.Tensor):
        if self.cfg.method != "titan" and not self.cfg.coarse_for_all:
            start = time.perf_counter()
            logits, feats = logits_and_features(model, rx, last_linear(model))
            idx, w = select_batch(self.cfg.method, logits, feats, ry, self.cfg.batch, self.gen, inputs=rx)
            self.result.fine_ms.append(1000 * (time.perf_counter() - start))
            return rx[idx], ry[idx], w
        if self.filter is None:
            shallow = ShallowFeatures(model, self.feature_layer or first_activation(model))
            self.filter = CoarseFilter(shallow, self.n_classes, self.cfg.buffer,
                                       lambda_rep=self.cfg.lambda_rep, lambda_div=self.cfg.lambda_div)
        self.filter.feature_fn.model = model  # the features of the current model (snapshot)
        start = time.perf_counter()
        self.filter.offer(rx, ry)
        bx, by = self.filter.buffer.take()
        mid = time.perf_counter()
        logits, feats = logits_and_features(model, bx, last_linear(model))
        idx, w = select_batch(self.cfg.method, logits, feats, by, self.cfg.batch, self.gen, inputs=bx)
        self.result.coarse_ms_per_sample.append(1000 * (mid - start) / len(ry))
        self.result.fine_ms.append(1000 * (time.perf_counter() - mid))
        return bx[idx], by[idx], w


def _maybe_evaluate(model, t, cfg, result, x_test, y_test):
    if (t + 1) % cfg.eval_every == 0 or t + 1 == cfg.rounds:
        model.eval()
        with torch.no_grad():
            acc = float((model(x_test).argmax(1) == y_test).float().mean())
        result.curve.append((t + 1, acc))


def _run_pipelined(model, stream, selector, train_step, cfg, result, x_test, y_test):
    snapshots: queue.Queue = queue.Queue(maxsize=1)
    batches: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    errors: list[BaseException] = []
    snapshot = copy.deepcopy(model)

    def worker():
        try:
            for _ in range(cfg.rounds):
                state = snapshots.get()
                if stop.is_set() or state is None:
                    return
                snapshot.load_state_dict(state)
                rx, ry = stream.next_round()
                batches.put(selector.select(snapshot, rx, ry))
        except BaseException as err:  # surfaced in the caller
            errors.append(err)
            stop.set()
            batches.put(None)

    thread = threading.Thread(target=worker, name="titan-selector", daemon=True)
    thread.start()
    try:
        snapshots.put(copy.deepcopy(model.state_dict()))
        for t in range(cfg.rounds):
            start = time.perf_counter()
            batch = batches.get()
            if batch is None or stop.is_set():
                break
            if t + 1 < cfg.rounds:  # selection of round t+1 overlaps this round's update
                snapshots.put(copy.deepcopy(model.state_dict()))
            train_step(*batch)
            result.round_seconds.append(time.perf_counter() - start)
            _maybe_evaluate(model, t, cfg, result, x_test, y_test)
    finally:
        stop.set()
        _drain(batches)  # unblock a worker waiting to hand over a batch
        _put_nowait(snapshots, None)
        thread.join(timeout=30)
    if errors:
        raise RuntimeError(f"the selection worker failed: {errors[0]}") from errors[0]


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def _put_nowait(q: queue.Queue, item) -> None:
    try:
        q.put_nowait(item)
    except queue.Full:
        pass
