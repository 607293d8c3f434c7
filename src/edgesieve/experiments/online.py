"""Titan's online-training protocol (SPEC section 2): rounds of v streaming samples, a
selector picks |B| of them (Titan: coarse filter into a small buffer, then C-IS), one SGD
step per round.

Three execution modes, so their per-round time can be compared in one run:
  train_only  one SGD step on a random batch of the round (no selection at all);
  sequential  selection and the step one after another;
  pipelined   selection runs in a worker process on a snapshot of the model taken once per
              round while the trainer updates the model: the batch trained in round t was
              selected with the model of round t-1 (the paper's one-round delay). See
              ``edgesieve.experiments.pipeline``.

Every method sees the same seeded stream and the same held-out calibration samples (the first
``calibration`` samples of the seeded order, never streamed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edgesieve.experiments.online_round import OnlineResult, make_selector, select_round
from edgesieve.hooks import eval_mode
from edgesieve.selectors.batch import COARSE_STAGES, list_batch_methods

MODES = ("train_only", "sequential", "pipelined")
STREAM_BUDGETS = ("all", "train_time")
#: options added after experiments were run; at their defaults they leave an experiment's
#: identity (and so its resumable results) unchanged
LATE_OPTIONS = {"stream_budget": "all", "coarse_pool": 1, "pin_cores": False}


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
    eval_every: int = 25
    seed: int = 0
    mode: str = "sequential"
    lambda_rep: float = 1.0
    lambda_div: float = 1.0
    class_slots: str = "proportional"  # coarse buffer slots per class: "proportional" or "global" (paper)
    importance_weights: bool = False
    # None: the method's own coarse stage (Titan's filter for titan; none for the rivals, which
    # pick from the round's v samples as in the paper); "titan"/"drip"/"none" for every method
    coarse: str | None = None
    calibration: int = 100  # held-out samples that calibrate the selector (never streamed)
    drip_recalibrate_every: int = 50  # coarse stages that need it (DRIP's windows): refit as the model learns
    repeat_stream: bool = False  # reshuffle and stream again when the training set runs out
    channels_last: bool = True  # image models: faster convolutions on CPU (same numbers)
    # pipelined only: "all" examines every streaming sample (a slow selector stalls the trainer);
    # "train_time" examines only as much of each round as fits in the trainer's last step, so
    # selection never stalls training (OnlineResult.coverage says how much of the stream was seen)
    stream_budget: str = "all"
    coarse_pool: int = 1  # Titan's coarse stage: shallow features averaged over pool x pool positions first
    # pipelined only: the trainer on the first CPU this process may use, the selection worker on the
    # last (Linux sched_setaffinity), each with one torch thread, so neither is moved onto the other's core
    pin_cores: bool = False

    def __post_init__(self):
        if self.v < 1 or self.rounds < 1 or self.eval_every < 1:
            raise ValueError("v, rounds and eval_every must be positive")
        if self.batch < 1 or self.buffer < self.batch:
            raise ValueError(f"the buffer ({self.buffer}) must hold at least one batch ({self.batch})")
        if self.v < self.batch:
            raise ValueError(f"v ({self.v}) must be at least the batch size ({self.batch})")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.method not in list_batch_methods():
            raise ValueError(f"unknown method {self.method!r}; available: {', '.join(list_batch_methods())}")
        if self.coarse is not None and self.coarse not in COARSE_STAGES:
            raise ValueError(f"coarse must be one of {tuple(COARSE_STAGES)} or None, got {self.coarse!r}")
        if self.calibration < 1 or self.drip_recalibrate_every < 1:
            raise ValueError("calibration and drip_recalibrate_every must be positive")
        if self.stream_budget not in STREAM_BUDGETS:
            raise ValueError(f"stream_budget must be one of {STREAM_BUDGETS}, got {self.stream_budget!r}")
        if self.stream_budget != "all" and self.mode != "pipelined":
            raise ValueError("stream_budget='train_time' needs mode='pipelined' (a budget against a concurrent trainer)")
        if isinstance(self.coarse_pool, bool) or not isinstance(self.coarse_pool, int) or self.coarse_pool < 1:
            raise ValueError(f"coarse_pool must be a positive int, got {self.coarse_pool!r}")
        if self.pin_cores and self.mode != "pipelined":
            raise ValueError("pin_cores splits the cores between the pipeline's trainer and selector: it needs mode='pipelined'")


class Stream:
    """A seeded stream over a training set, v samples per round. The first ``held_out``
    samples of the seeded order are set aside (calibration) and never streamed. When the rest
    runs out: a clear error, or with ``repeat`` a fresh shuffle of it (another pass)."""

    def __init__(self, n: int, v: int, seed: int, *, held_out: int = 0, repeat: bool = False):
        if held_out + v > n:
            raise ValueError(f"the training set has {n} samples: too few for {held_out} held out plus a round of {v}")
        order = np.random.default_rng(seed).permutation(n)
        self.held_out = torch.from_numpy(order[:held_out])
        self.pool = order[held_out:]
        self.v, self.seed, self.repeat = v, seed, repeat
        self.order = torch.from_numpy(self.pool)
        self.position, self.passes = 0, 1

    @classmethod
    def ordered(cls, held_out: int, n_stream: int, v: int, *, repeat: bool = False) -> "Stream":
        """A stream already in arrival order (a stream scenario's): samples ``held_out`` ..
        ``held_out + n_stream - 1`` of the training set, in that order, after ``held_out``
        calibration samples. With ``repeat`` the same order plays again when it runs out."""
        if n_stream < v:
            raise ValueError(f"the stream has {n_stream} arrivals: too few for a round of {v}")
        self = cls.__new__(cls)
        self.held_out = torch.arange(held_out)
        self.pool = np.arange(held_out, held_out + n_stream)
        self.v, self.seed, self.repeat, self.replay = v, 0, repeat, True
        self.order = torch.from_numpy(self.pool)
        self.position, self.passes = 0, 1
        return self

    replay = False  # reshuffle (False) or replay the same order (True) on another pass

    def next_round(self) -> torch.Tensor:
        """Indices (into the training set) of the next round's samples."""
        if self.position + self.v > len(self.order):
            if not self.repeat:
                raise ValueError(
                    f"the stream ended early: round needs {self.v} samples, {len(self.order) - self.position} left; "
                    "use fewer rounds, a larger training set, or repeat_stream=True (--repeat-stream)"
                )
            if not self.replay:
                rng = np.random.default_rng([self.seed, self.passes])
                self.order = torch.from_numpy(self.pool[rng.permutation(len(self.pool))])
            self.position, self.passes = 0, self.passes + 1
        idx = self.order[self.position : self.position + self.v]
        self.position += self.v
        return idx


def stream_split(n: int, calibration: int, validation: int, pool: int | None, seed: int):
    """Positions in the training pool of one online run on a stream scenario: the validation
    samples (the same for every seed, held out of every stream), the seed's calibration samples,
    and the pool the scenario applies to (``pool`` samples of the rest, or all of it)."""
    fixed = np.random.default_rng(2024).permutation(n)
    val, rest = fixed[:validation], fixed[validation:]
    rest = rest[np.random.default_rng([seed, 3]).permutation(len(rest))]
    cal, stream_pool = rest[:calibration], rest[calibration:]
    return val, cal, stream_pool if pool is None else stream_pool[:pool]


def streamed_training_set(bundle, spec: str, seed: int, cfg: "OnlineConfig", *, validation: int = 0,
                          pool: int | None = None):
    """(x, y, stream, validation positions, stream length) for ``run_online`` on the stream
    scenario ``spec``: the calibration samples first (clean, iid: the device's factory data),
    then the scenario's arrivals in order (observed labels; inputs as the scenario made them)."""
    from edgesieve.streams import make_stream

    val, cal, stream_pool = stream_split(len(bundle.y), cfg.calibration, validation, pool, seed)
    s = make_stream(spec, bundle, seed, indices=stream_pool)
    x = torch.from_numpy(np.concatenate([bundle.x[cal], s.samples(bundle.x)]))
    y = torch.from_numpy(np.concatenate([bundle.y[cal], s.y]))
    return x, y, Stream.ordered(len(cal), len(s), cfg.v, repeat=cfg.repeat_stream), val, len(s)


def prepare(model: nn.Module, x: torch.Tensor, cfg: OnlineConfig) -> tuple[nn.Module, torch.Tensor]:
    """Channels-last layout for image batches (N, C, H, W) when asked: the same arithmetic,
    about 1.7x faster CPU convolutions and pooling here."""
    if cfg.channels_last and x.dim() == 4:
        return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    return model, x


def run_online(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
               n_classes: int, cfg: OnlineConfig, *, feature_layer: str | None = None,
               stream: Stream | None = None) -> OnlineResult:
    """Train ``model`` online on a stream drawn from (x, y); evaluate on the test set every
    ``eval_every`` rounds. Returns the accuracy curve and per-stage timings. ``stream``: the
    arrival order (``Stream.ordered`` for a stream scenario); default a seeded shuffle of (x, y)."""
    if int(y.max()) >= n_classes or int(y.min()) < 0:
        raise ValueError(f"labels must be in [0, {n_classes}), got {int(y.min())}..{int(y.max())}")
    torch.manual_seed(cfg.seed)
    model, x = prepare(model, x, cfg)
    _, x_test = prepare(model, x_test, cfg)
    if stream is None:
        stream = Stream(len(y), cfg.v, cfg.seed, held_out=cfg.calibration, repeat=cfg.repeat_stream)
    trainer = Trainer(model, cfg)
    result = OnlineResult()
    if cfg.mode == "pipelined":
        from edgesieve.experiments.pipeline import run_pipelined

        run_pipelined(model, x, y, stream, trainer, cfg, result, lambda t: _maybe_evaluate(model, t, cfg, result, x_test, y_test),
                      feature_layer=feature_layer)
        return result
    gen = torch.Generator().manual_seed(cfg.seed)
    selector = None
    if cfg.mode == "sequential":
        cal = stream.held_out
        start = time.perf_counter()
        selector = make_selector(cfg, model, feature_layer).calibrate(x[cal], y[cal])
        result.calibration_seconds = time.perf_counter() - start
    for t in range(cfg.rounds):
        start = time.perf_counter()
        idx = stream.next_round()
        if selector is None:
            pick = idx[torch.randperm(cfg.v, generator=gen)[: cfg.batch]]
            trainer.step(x[pick], y[pick], torch.ones(cfg.batch))
        else:
            pick, w = select_round(selector, x, y, idx, t, cfg, result, stream.held_out)
            trainer.step(x[pick], y[pick], w)
        result.round_seconds.append(time.perf_counter() - start)
        _maybe_evaluate(model, t, cfg, result, x_test, y_test)
    return result


class Trainer:
    """One SGD step per round, lr decayed by ``lr_decay`` every ``decay_every`` rounds."""

    def __init__(self, model: nn.Module, cfg: OnlineConfig):
        from edgesieve.selectors import selector_class

        self.model, self.cfg = model, cfg
        # importance weights when the protocol asks for them, or when they are the method (InfoBatch)
        self.weighted = cfg.importance_weights or selector_class(cfg.method).always_weighted
        self.opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=cfg.decay_every, gamma=cfg.lr_decay)

    def step(self, bx: torch.Tensor, by: torch.Tensor, w: torch.Tensor) -> None:
        self.model.train()
        loss = nn.functional.cross_entropy(self.model(bx), by, reduction="none")
        loss = (loss * w).mean() if self.weighted else loss.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()


def _maybe_evaluate(model, t, cfg, result, x_test, y_test):
    if (t + 1) % cfg.eval_every == 0 or t + 1 == cfg.rounds:
        result.curve.append((t + 1, evaluate(model, x_test, y_test)))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> float:
    """Test accuracy in eval mode, in chunks (bounded memory); restores the model's mode."""
    with eval_mode(model):
        correct = sum(int((model(x[i : i + chunk]).argmax(1) == y[i : i + chunk]).sum()) for i in range(0, len(y), chunk))
    return correct / len(y)
