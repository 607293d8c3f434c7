"""The DRIP paper's storage protocol (SPEC section 1), for any data and any registered selector.

Each run reshuffles the training pool into D1 (40%, training), D2 (20%, calibration) and D3
(40%, production) and trains, from the same initial weights:
  baseline  on D1;  all_data on D1 + D3;
  selector  on D1 + what the selector kept of D3 (per DPW value for DRIP);
  random    on D1 + a uniform random subset of D3 of the same size.
All are evaluated on the test split. Runs are written one file each, atomically, so a killed
experiment resumes where it stopped and a half-written file is never taken for a result.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from edgesieve.data.bundle import DataBundle
from edgesieve.experiments.results_dir import ResultsDir, identity_hash
from edgesieve.experiments.training import (
    accuracy_and_macro_f1,
    predict,
    train_classifier,
)
from edgesieve.selectors import create_selector, selector_class
from edgesieve.streams import make_stream, parse_streams


@dataclass(frozen=True)
class ProtocolConfig:
    """Everything that determines the results (saved as config.json next to them)."""

    dataset: str
    runs: int = 5
    dpws: tuple[float, ...] = (0.25,)
    selector: str = "drip"
    selector_params: tuple[tuple[str, object], ...] = ()
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-2
    seed: int = 0
    pool: int | None = None  # use a random subset of the training pool of this size
    label_noise: float = 0.0  # fraction of D1 and D3 labels replaced by a different random class
    split: tuple[float, float, float] = (0.4, 0.2, 0.4)
    stream: str = "iid"  # the stream scenario D3 arrives as (edgesieve.streams)

    def __post_init__(self):
        if self.runs < 1:
            raise ValueError(f"runs must be at least 1, got {self.runs}")
        if not self.dpws or any(not 0 < d < 1 for d in self.dpws):
            raise ValueError(f"every DPW must be a fraction in (0, 1), got {self.dpws}")
        if self.selector != "drip" and len(self.dpws) != 1:
            raise ValueError("a DPW sweep applies to the drip selector only")
        if not 0 <= self.label_noise < 1:
            raise ValueError(f"label_noise must be in [0, 1), got {self.label_noise}")
        if abs(sum(self.split) - 1) > 1e-9 or min(self.split) <= 0:
            raise ValueError(f"split must be three positive fractions summing to 1, got {self.split}")
        if self.pool is not None and self.pool < 20:
            raise ValueError(f"pool must be at least 20 samples, got {self.pool}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        selector_class(self.selector)  # unknown names fail here, before any training
        parse_streams(self.stream)  # and unknown stream scenarios or parameters
        if self.stream != "iid" and self.label_noise:
            raise ValueError("label_noise applies to iid runs; for a noisy stream use the stream scenario label-noise:rate=P")

    def to_json(self) -> dict:
        d = asdict(self)
        d["dpws"], d["split"] = list(self.dpws), list(self.split)
        d["selector_params"] = dict(self.selector_params)
        return d

    def identity_hash(self) -> str:
        """Hash of what makes results comparable; ``runs`` is left out so a finished
        experiment can be extended with more runs."""
        d = self.to_json()
        d.pop("runs")
        if d["stream"] == "iid":
            d.pop("stream")  # added later: iid results made before it keep their identity
        return identity_hash(d)

    @classmethod
    def from_json(cls, d: dict) -> "ProtocolConfig":
        """The config a results folder's config.json records (``to_json`` read back)."""
        d = dict(d)
        d["dpws"], d["split"] = tuple(d["dpws"]), tuple(d["split"])
        d["selector_params"] = tuple(sorted(d.get("selector_params", {}).items()))
        return cls(**d)


# -- splits and noise ---------------------------------------------------------------------------


def split_indices(n: int, fractions, rng: np.random.Generator, groups: np.ndarray | None = None):
    """Shuffle and cut into len(fractions) parts. With ``groups``, whole groups are assigned
    (in shuffled order, until each part's share of samples is reached), so no group is split.

    >>> a, b, c = split_indices(10, (0.4, 0.2, 0.4), np.random.default_rng(0))
    >>> len(a), len(b), len(c), sorted(np.concatenate([a, b, c]).tolist()) == list(range(10))
    (4, 2, 4, True)
    """
    if groups is None:
        order = rng.permutation(n)
        cuts = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
        return np.split(order, cuts)
    unique = rng.permutation(np.unique(groups))
    sizes = np.array([np.sum(groups == g) for g in unique])
    ends = np.cumsum(sizes) / n
    bounds = np.cumsum(fractions)[:-1]
    part_of_group = np.searchsorted(bounds, ends - sizes / (2 * n))  # by each group's midpoint
    parts = []
    for p in range(len(fractions)):
        members = unique[part_of_group == p]
        idx = np.flatnonzero(np.isin(groups, members))
        parts.append(rng.permutation(idx))
    return parts


def add_label_noise(y: np.ndarray, idx: np.ndarray, fraction: float, n_classes: int, rng) -> np.ndarray:
    """Copy of y where ``fraction`` of the entries at ``idx`` get a different, random class."""
    y = y.copy()
    if fraction <= 0:
        return y
    flip = rng.choice(idx, size=int(round(fraction * len(idx))), replace=False)
    y[flip] = (y[flip] + rng.integers(1, n_classes, size=flip.size)) % n_classes
    return y


# -- one run ------------------------------------------------------------------------------------


@dataclass
class RunContext:
    bundle: DataBundle
    model_factory: Callable[[], nn.Module]
    cfg: ProtocolConfig
    progress: bool = True
    x: torch.Tensor = field(init=False)
    x_test: torch.Tensor = field(init=False)
    y_test: torch.Tensor = field(init=False)

    def __post_init__(self):
        self.x = torch.from_numpy(np.ascontiguousarray(self.bundle.x))
        self.x_test = torch.from_numpy(np.ascontiguousarray(self.bundle.x_test))
        self.y_test = torch.from_numpy(self.bundle.y_test)

    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int, desc: str, steps: int | None = None) -> nn.Module:
        torch.manual_seed(seed)  # every arm starts from the same initial weights
        return train_classifier(
            self.model_factory(), x, y, epochs=self.cfg.epochs, batch_size=self.cfg.batch_size,
            lr=self.cfg.lr, seed=seed, progress=self.progress, desc=desc, steps=steps,
        )

    def evaluate(self, model: nn.Module) -> dict:
        acc, f1 = accuracy_and_macro_f1(predict(model, self.x_test), self.y_test, self.bundle.n_classes)
        return {"acc": acc, "f1": f1}

    def fit_baseline(self, r: RunData) -> nn.Module:
        """The run's baseline (trained on D1), from this process's cache when an earlier run
        trained the same one: a grid's streams of one seed share D1 (only D3 is the stream), so
        a worker that runs several of them trains it once. Bit-identical to training it again:
        the key holds everything training reads, and a hit leaves torch's global generator where
        the training would have left it."""
        # the factory itself (not its name: two lambdas share one), held by the key so its id is never reused
        key = (self.cfg.dataset, self.model_factory, self.cfg.epochs,
               self.cfg.batch_size, self.cfg.lr, r.seed, torch.get_num_threads(), str(r.x1.device), tuple(r.x1.shape),
               _digest(r.x1, r.y1))
        if key in _BASELINES:
            _BASELINES.move_to_end(key)
            state, rng = _BASELINES[key]
            model = self.model_factory()
            model.load_state_dict(state)
            torch.set_rng_state(rng)
            return model.eval()
        model = self.fit(r.x1, r.y1, r.seed, "baseline")
        _BASELINES[key] = ({k: v.detach().clone() for k, v in model.state_dict().items()}, torch.get_rng_state())
        while len(_BASELINES) > BASELINES_KEPT:
            _BASELINES.popitem(last=False)
        return model


def _digest(*tensors: torch.Tensor) -> str:
    """A fingerprint of the tensors' values (D1 itself, not its indices: another bundle under the
    same name must not hit; tens of milliseconds against seconds of training)."""
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        h.update(str(t.dtype).encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


#: baselines a process keeps (weights and the generator state after training): a few small models
BASELINES_KEPT = 2
_BASELINES: OrderedDict = OrderedDict()


def pool_indices(ctx: RunContext) -> np.ndarray:
    n = ctx.bundle.x.shape[0]
    if ctx.cfg.pool is None or ctx.cfg.pool >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([ctx.cfg.seed, 7]).permutation(n)[: ctx.cfg.pool])


@dataclass
class RunData:
    """One reshuffle's parts: D1 (training), D2 (calibration), and D3 as it arrives (the stream:
    inputs, observed and clean labels, positions in the pool)."""

    seed: int
    rng: np.random.Generator
    d1: np.ndarray
    d2: np.ndarray
    y: torch.Tensor  # labels of the whole pool (with iid label noise when configured)
    y_np: np.ndarray
    x1: torch.Tensor
    y1: torch.Tensor
    x3: torch.Tensor
    y3: torch.Tensor
    clean3: np.ndarray
    source3: np.ndarray


def prepare_run(ctx: RunContext, run: int) -> RunData:
    """Split the pool for run ``run`` and build D3's stream. With a stream scenario
    (``cfg.stream``), D3 becomes that stream; D1 and D2 stay clean and iid (factory data)."""
    cfg, bundle = ctx.cfg, ctx.bundle
    seed = cfg.seed + run
    rng = np.random.default_rng([seed, 1])
    pool = pool_indices(ctx)
    groups = None if bundle.groups is None else bundle.groups[pool]
    d1, d2, d3 = (pool[p] for p in split_indices(len(pool), cfg.split, rng, groups))
    y_np = add_label_noise(bundle.y, np.concatenate([d1, d3]), cfg.label_noise, bundle.n_classes, rng)
    y = torch.from_numpy(y_np)
    if cfg.stream == "iid":  # the papers' setting, as every committed iid run was made
        source3, x3, y3, clean3 = d3, ctx.x[d3], y[d3], bundle.y[d3]
    else:
        s = make_stream(cfg.stream, bundle, seed, indices=d3)
        source3, x3, y3, clean3 = s.source, torch.from_numpy(s.samples(bundle.x)), torch.from_numpy(s.y), s.y_clean
    return RunData(seed, rng, d1, d2, y, y_np, ctx.x[d1], y[d1], x3, y3, clean3, source3)


def run_once(ctx: RunContext, run: int, artifacts: Path | None = None) -> dict:
    """One reshuffle of the protocol; returns a JSON-able record."""
    cfg, bundle = ctx.cfg, ctx.bundle
    r = prepare_run(ctx, run)
    seed, rng, d1, d2, n3 = r.seed, r.rng, r.d1, r.d2, len(r.y3)
    y, y_np, x1, y1, x3, y3, clean3, stream_source = r.y, r.y_np, r.x1, r.y1, r.x3, r.y3, r.clean3, r.source3

    baseline = ctx.fit_baseline(r)
    record = {
        "run": run,
        "seed": seed,
        "stream": cfg.stream,
        "sizes": {"d1": len(d1), "d2": len(d2), "d3": n3, "test": int(bundle.x_test.shape[0])},
        "baseline": ctx.evaluate(baseline),
        "all_data": ctx.evaluate(ctx.fit(torch.cat([x1, x3]), torch.cat([y1, y3]), seed, "all-data")),
        "by_dpw": {},
    }
    wrong3 = y3.numpy() != clean3
    for dpw in cfg.dpws:
        selector, keep, decide_s = _select(ctx, r, baseline, dpw)
        kept = np.flatnonzero(keep)
        random_kept = rng.permutation(n3)[: len(kept)]
        entry = {
            "retained": int(len(kept)),
            "retention": len(kept) / n3,
            "savings": 1 - len(kept) / n3,
            "bytes_d3": int(n3 * bundle.sample_nbytes),
            "bytes_saved": int((n3 - len(kept)) * bundle.sample_nbytes),
            "decision_ms_per_point": 1000 * decide_s / n3,
            "noisy_label_share_kept": float(wrong3[kept].mean()) if len(kept) else 0.0,
            "noisy_label_share_d3": float(wrong3.mean()) if n3 else 0.0,
            # how much DRIP's windows depend on this D2 sample (None for selectors without windows)
            "split_half_agreement": getattr(selector, "split_half_agreement_", None),
            "selector": ctx.evaluate(ctx.fit(torch.cat([x1, x3[kept]]), torch.cat([y1, y3[kept]]), seed,
                                             f"{cfg.selector} dpw={dpw}")),
            "random": ctx.evaluate(ctx.fit(torch.cat([x1, x3[random_kept]]), torch.cat([y1, y3[random_kept]]), seed,
                                           f"random dpw={dpw}")),
        }
        record["by_dpw"][f"{dpw:g}"] = entry
        if artifacts is not None:
            _save_artifacts(artifacts, selector, baseline, dpw, ctx, d2, stream_source, keep, y_np)
    return record


def _select(ctx: RunContext, r: RunData, baseline: nn.Module, dpw: float):
    """The selector calibrated on D2 and its keep flags on D3 (and the seconds deciding took)."""
    selector = _make_selector(ctx.cfg, baseline, dpw, r.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the calibration report records classes without thresholds
        selector.calibrate(ctx.x[r.d2], r.y[r.d2])
    keep, decide_s = _decide_with_progress(selector, r.x3, ctx.progress, f"{ctx.cfg.selector} scoring D3")
    return selector, keep, decide_s


def save_figure_artifacts(ctx: RunContext, run: int, folder: Path) -> None:
    """What the figures need from one run, without the run's other trainings: its baseline
    (trained from the run's seed, so the model the run itself trained), the selector's state,
    its calibration scores and its decisions on D3, per DPW."""
    r = prepare_run(ctx, run)
    baseline = ctx.fit(r.x1, r.y1, r.seed, "baseline")
    for dpw in ctx.cfg.dpws:
        selector, keep, _ = _select(ctx, r, baseline, dpw)
        _save_artifacts(folder, selector, baseline, dpw, ctx, r.d2, r.source3, keep, r.y_np)


def _decide_with_progress(selector, x: torch.Tensor, progress: bool, desc: str, chunk: int = 2048):
    """The selector's keep flags for x, decided in chunks behind a progress bar; and the time
    spent deciding (the bar's own cost excluded)."""
    keeps, seconds = [], 0.0
    for i in tqdm(range(0, x.shape[0], chunk), desc=desc, disable=None if progress else True, leave=False, unit="chunk"):
        start = time.perf_counter()
        keeps.append(selector.decide(x[i : i + chunk]).keep.numpy())
        seconds += time.perf_counter() - start
    return np.concatenate(keeps), seconds


def _make_selector(cfg: ProtocolConfig, model: nn.Module, dpw: float, seed: int):
    params = dict(cfg.selector_params)
    cls = selector_class(cfg.selector)
    if cfg.selector == "drip":
        params.setdefault("dpw", dpw)
    if "seed" in cls._param_names():
        params.setdefault("seed", seed)
    return create_selector(cfg.selector, model=model, **params) if cls.requires_model else create_selector(cfg.selector, **params)


def _save_artifacts(folder: Path, selector, baseline, dpw, ctx: RunContext, d2, d3, keep, y) -> None:
    """What the figures need from run 0: calibration scores, D3 decisions, model and state."""
    from edgesieve.models import save_weights

    folder.mkdir(parents=True, exist_ok=True)
    save_weights(baseline, folder / "baseline.safetensors")
    tag = f"dpw{dpw:g}"
    if hasattr(selector, "thresholds_"):
        selector.save(folder / f"{ctx.cfg.selector}_{tag}.json")
        res = selector.cam_.explain(ctx.x[d2], return_heatmaps=False) if hasattr(selector, "cam_") else None
        if res is not None:
            np.savez(folder / f"calibration_{tag}.npz", scores=res.scores.numpy(), predicted=res.predicted.numpy(), labels=y[d2])
    np.savez(folder / f"d3_{tag}.npz", index=d3, keep=keep, labels=y[d3])


# -- the experiment -------------------------------------------------------------------------------

def run_protocol(
    bundle: DataBundle,
    model_factory: Callable[[], nn.Module],
    cfg: ProtocolConfig,
    out: str | Path,
    *,
    progress: bool = True,
) -> list[dict]:
    """Run (or resume) the protocol; returns every run's record and writes the summary.

    ``bundle`` can hold your own data (``DataBundle.from_arrays``), ``model_factory`` builds a
    fresh classifier (logits out) for it.
    """
    results = ResultsDir(Path(out), cfg)
    results.prepare()
    ctx = RunContext(bundle, model_factory, cfg, progress)
    records = []
    for run in tqdm(range(cfg.runs), desc=f"{cfg.dataset} runs", disable=None if progress else True, unit="run"):
        record = results.load_run(run)
        if record is None:
            artifacts = results.path / "artifacts" if run == 0 else None
            record = run_once(ctx, run, artifacts)
            results.save_run(record)
        records.append(record)
    from edgesieve.experiments.summary import summarize, write_summary

    write_summary(results.path, cfg, summarize(records, cfg), bundle.note)
    return records
