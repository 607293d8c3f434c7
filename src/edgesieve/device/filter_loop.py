"""The streaming filter: read micro-batches from a source, decide, commit retained samples to the
store. Torch-free (the filter object may be torch-backed or onnxruntime-backed).

Each micro-batch is one store transaction, so a crash loses at most the batch in flight, and
``run_filter`` on the same store and source resumes after the last committed batch.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from edgesieve.device.micro_batch import LatencyHistogram, micro_batches
from edgesieve.pcg64 import default_rng
from edgesieve.reasons import REASONS
from edgesieve.store.policy_driver import LABEL_FREE_BALANCING
from edgesieve.store.sqlite_store import CLASS_POLICIES, BatchTally, RetainedBatch, RetainedStore

NONFINITE_POLICIES = ("skip", "reject")
#: what the store is offered: the samples the filter keeps, or every (finite) arrival (the
#: filter then only scores and predicts, and the store's capacity policy alone decides)
OFFER_MODES = ("kept", "all")


@dataclass
class LatencyReservoir:
    """Per-sample latency of each micro-batch (its time / its size), weighted by the batch's
    size; a uniform reservoir of at most ``size`` batches keeps memory constant on any stream."""

    size: int = 20_000
    seed: int = 0
    values: list = field(default_factory=list)  # (per-sample seconds, batch size)
    seen: int = 0

    def add(self, per_sample_s: float, n: int) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append((per_sample_s, n))
            return
        j = default_rng((self.seed, self.seen)).integers(self.seen)
        if j < self.size:
            self.values[j] = (per_sample_s, n)

    def percentiles_ms(self) -> dict[str, float]:
        if not self.values:
            return {}
        latency, weight = np.array(self.values, dtype=np.float64).T
        order = np.argsort(latency)
        cumulative = np.cumsum(weight[order]) / weight.sum()
        pick = lambda q: float(latency[order][np.searchsorted(cumulative, q)] * 1000)  # noqa: E731
        return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99)}


@dataclass
class FilterSummary:
    source: str
    started_at: int  # arrival index this run began at (> 0 after a resume)
    next_arrival: int
    seen: int = 0
    kept: int = 0
    stored: int = 0
    skipped_nonfinite: int = 0
    elapsed_s: float = 0.0
    latency_ms: dict = field(default_factory=dict)
    arrival_latency_ms: dict = field(default_factory=dict)  # live sources: from arrival to commit
    mean_batch: float = 0.0
    max_delay_ms: float | None = None
    store_info: dict = field(default_factory=dict)

    def format(self) -> str:
        info = self.store_info
        lines = [
            f"source {self.source}: processed arrivals {self.started_at}..{self.next_arrival - 1}"
            + (f" (resumed at {self.started_at})" if self.started_at else ""),
            f"this run: seen {self.seen}, kept {self.kept} ({self.kept / max(1, self.seen):.1%}), "
            f"discarded {self.seen - self.kept}, stored {self.stored}, skipped non-finite {self.skipped_nonfinite}, "
            f"{self.elapsed_s:.1f} s",
        ]
        if self.latency_ms:
            lines.append(
                "per-sample latency (score + decision + store write): "
                + ", ".join(f"{k} {v:.3f} ms" for k, v in self.latency_ms.items())
            )
        if self.arrival_latency_ms:
            budget = "full batches" if self.max_delay_ms is None else f"max delay {self.max_delay_ms:g} ms"
            lines.append(
                f"from arrival to commit ({budget}, {self.mean_batch:.1f} arrivals per batch, "
                f"{self.seen / max(self.elapsed_s, 1e-9):,.0f} arrivals/s): "
                + ", ".join(f"{k} {v:.3f} ms" for k, v in self.arrival_latency_ms.items())
            )
        if info:
            counters = info["counters"]
            seen_bytes = sum(c["seen_bytes"] for c in info["classes"])
            kept_bytes = sum(c["kept_bytes"] for c in info["classes"])
            lines.append(
                f"store {info['path']}: {info['samples']} samples, {counters['stored_bytes']:,} bytes of arrays; "
                f"bytes saved by discarding: {seen_bytes - kept_bytes:,} of {seen_bytes:,}"
            )
            policy = info["capacity"].get("policy")
            if policy in CLASS_POLICIES:
                source = info["class_source"]
                lines.append(f"{policy} balanced stored samples by their label ({source['label']}) or, without one, "
                             f"the predicted class ({source['predicted']})")
            elif policy in LABEL_FREE_BALANCING:
                lines.append(f"{policy} balanced by the predicted class (label-free)"
                             + ("; a stored sample's label, where it has one, counts for its class"
                                if info["capacity"].get("params", {}).get("labelled_store") else ""))
            lines.append(f"{'class':>5} {'seen':>8} {'kept':>8} {'discarded':>9}")
            for c in info["classes"]:
                lines.append(f"{c['class']:>5} {c['seen']:>8} {c['kept']:>8} {c['discarded']:>9}")
        return "\n".join(lines)


class _Progress:
    """A live one-line progress report on a terminal (rewritten in place, 4 times a second); into
    a log or pipe, one plain line every ``log_every_s`` seconds instead; silent when disabled."""

    def __init__(self, enabled: bool, total: int | None, log_every_s: float = 30.0):
        self.enabled, self.total, self.last = enabled, total, time.monotonic()
        self.tty = sys.stderr.isatty()
        self.interval = 0.25 if self.tty else log_every_s

    def update(self, done: int, seen: int, kept: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < self.interval):
            return
        self.last = now
        total = f"/{self.total}" if self.total else ""
        line = f"filter: {done}{total} arrivals, keep-rate {kept / max(1, seen):.1%}"
        sys.stderr.write(f"\r{line}   " + ("\n" if force else "") if self.tty else line + "\n")
        sys.stderr.flush()


def run_filter(
    filt,
    source,
    store: RetainedStore,
    *,
    batch_size: int = 64,
    nonfinite: str = "skip",
    limit: int | None = None,
    progress: bool = True,
    offer: str = "kept",
    max_delay_ms: float | None = None,
) -> FilterSummary:
    """Filter ``source`` into ``store``, resuming after the last committed arrival.

    ``filt`` has ``sample_shape`` and ``decide(x) -> BatchDecision``. ``nonfinite``: ``skip``
    counts and drops samples holding NaN/Inf (never stored), ``reject`` raises. ``limit`` stops
    after exactly that many arrivals in this run (a later run resumes at the next one).
    ``offer``: ``kept`` offers the store what the filter keeps, ``all`` every finite arrival (for
    a store policy that should see the whole stream, such as pbrs; "kept" in the summary then
    counts what was offered). ``max_delay_ms``: on a live
    source (one with ``arrivals(start)``, such as ``PacedSource``), a micro-batch closes when full
    or when waiting longer would hold its first arrival past this delay (``micro_batch``); no
    value waits for full batches; a file source is read as fast as it can be, in full batches.
    On a live source the summary reports each arrival's latency from arrival to commit.
    """
    if offer not in OFFER_MODES:
        raise ValueError(f"offer must be one of {OFFER_MODES}, got {offer!r}")
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of arrivals, got {limit}")
    start = store.next_arrival(source.name)
    summary = FilterSummary(source=source.name, started_at=start, next_arrival=start)
    latencies, waited = LatencyReservoir(), LatencyHistogram()
    bar = _Progress(progress, len(source) if hasattr(source, "__len__") else None)
    t_start, n_batches = time.perf_counter(), 0
    for arrivals, x, labels, available_at in _micro_batches(source, start, batch_size, max_delay_ms):
        if limit is not None:
            # exactly ``limit`` arrivals: the rest of the batch is left for the next run
            room = limit - (summary.seen + summary.skipped_nonfinite)
            arrivals, x, labels = arrivals[:room], x[:room], labels[:room]
        t0 = time.perf_counter()
        x = _check_batch(x, filt.sample_shape, arrivals)
        finite = np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
        if not finite.all() and nonfinite == "reject":
            bad = arrivals[~finite][:5].tolist()
            raise ValueError(f"samples at arrival indices {bad} hold NaN or Inf; to count and drop them instead, "
                             "run with --nonfinite skip (nonfinite='skip' in Python)")
        n_skipped = int((~finite).sum())
        arrivals, x, labels = arrivals[finite], x[finite], labels[finite]
        batch, tally_classes, tally_keep = None, np.zeros(0, np.int64), np.zeros(0, bool)
        if x.shape[0]:
            d = filt.decide(x)
            k = d.keep if offer == "kept" else np.ones(len(d), bool)
            tally_classes, tally_keep = d.predicted, k
            if k.any():
                batch = RetainedBatch(
                    arrays=x[k],
                    arrivals=arrivals[k],
                    predicted=d.predicted[k],
                    scores=d.score[k],
                    reasons=[REASONS[c] for c in d.reason[k]],
                    labels=labels[k],
                    probs=None if d.probs is None else d.probs[k],
                )
        next_arrival = int(arrivals[-1]) + 1 if arrivals.size else summary.next_arrival + x.shape[0] + n_skipped
        tally = BatchTally(next_arrival, tally_classes, tally_keep, int(x[0].nbytes) if x.shape[0] else 0, n_skipped)
        summary.stored += store.commit(source.name, batch, tally)
        if available_at is not None:
            waited.add(time.monotonic() - available_at)
        n_batches += 1
        n = int(x.shape[0])
        if n:
            latencies.add((time.perf_counter() - t0) / n, n)
        summary.seen += n
        summary.kept += int(tally_keep.sum())
        summary.skipped_nonfinite += n_skipped
        summary.next_arrival = next_arrival
        bar.update(next_arrival, summary.seen, summary.kept)
        if limit is not None and summary.seen + summary.skipped_nonfinite >= limit:
            break  # before waiting on a live source for arrivals this run will not take
    bar.update(summary.next_arrival, summary.seen, summary.kept, force=True)
    summary.elapsed_s = time.perf_counter() - t_start
    summary.latency_ms = latencies.percentiles_ms()
    summary.arrival_latency_ms = waited.percentiles_ms()
    summary.mean_batch = (summary.seen + summary.skipped_nonfinite) / max(1, n_batches)
    summary.max_delay_ms = max_delay_ms
    summary.store_info = store.info()
    return summary


def _micro_batches(source, start: int, batch_size: int, max_delay_ms: float | None):
    """``(arrivals, x, labels, available_at)``: a live source micro-batched under the delay
    budget, a file source in full batches (``available_at`` None: it is all there already)."""
    if max_delay_ms is not None and not max_delay_ms >= 0:
        raise ValueError(f"the maximum delay must be >= 0 ms, got {max_delay_ms}")
    if hasattr(source, "arrivals"):
        yield from micro_batches(source.arrivals(start), batch_size, None if max_delay_ms is None else max_delay_ms / 1000)
        return
    for arrivals, x, labels in source.batches(start, batch_size):
        yield arrivals, x, labels, None


def _check_batch(x: np.ndarray, sample_shape, arrivals) -> np.ndarray:
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"input samples are {x.dtype}; the model needs floating-point input (for 8-bit images "
            "save x.astype('float32') / 255)"
        )
    if tuple(x.shape[1:]) != tuple(sample_shape):
        raise ValueError(
            f"input samples have shape {tuple(x.shape[1:])} (arrivals {int(arrivals[0])}..), "
            f"the model expects {tuple(sample_shape)}"
        )
    return x
