"""Micro-batching a live stream under a delay budget (``edgesieve filter --max-delay-ms D``).

A device that can wait a little decides several arrivals in one call (more throughput: the
per-call cost is shared); one that cannot decides each arrival as it comes. ``micro_batches``
closes a batch when it is full or when the next arrival would come after the first pending
arrival's deadline (its arrival time + D); when the loop is behind (arrivals already waiting
past their deadline) it takes every arrival that is already there, up to the batch size, so a
backlog is worked off in full batches. D = 0 decides each arrival alone; no D (the default)
waits for full batches.

A live source yields single arrivals ``(index, x, label, available_at)`` from ``arrivals(start)``
(``available_at`` on ``time.monotonic``'s clock); ``PacedSource`` replays any source as a sensor
at a fixed rate (``--arrival-rate HZ``), which is how the latency benchmark measures it.
Torch-free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np


@dataclass
class PacedSource:
    """``source`` replayed as a live stream: arrival ``start + i`` becomes available ``i / rate_hz``
    seconds after the replay starts (a sensor at a fixed rate)."""

    source: object
    rate_hz: float
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self):
        if not self.rate_hz > 0:
            raise ValueError(f"the arrival rate must be positive (Hz), got {self.rate_hz}")

    @property
    def name(self) -> str:
        return self.source.name

    def __len__(self) -> int:
        return len(self.source)

    def arrivals(self, start: int) -> Iterator[tuple[int, np.ndarray, int, float]]:
        t0 = self.clock()
        for indices, x, labels in self.source.batches(start, 256):
            for j in range(len(indices)):  # one arrival at a time: that is what a live stream is
                yield int(indices[j]), x[j], int(labels[j]), t0 + (int(indices[j]) - start) / self.rate_hz


def micro_batches(arrivals: Iterator, batch_size: int, max_delay_s: float | None, *,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Group single arrivals into ``(indices, x, labels, available_at)`` batches (see the module)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if max_delay_s is not None and max_delay_s < 0:
        raise ValueError(f"the maximum delay must be >= 0 ms, got {1000 * max_delay_s:g}")
    pending: list = []

    def wait_until(t: float) -> None:
        ahead = t - clock()
        if ahead > 0:
            sleep(ahead)

    for item in arrivals:
        if pending and max_delay_s is not None:
            deadline = pending[0][3] + max_delay_s
            if item[3] > max(deadline, clock()):  # it comes after the deadline (and is not already waiting)
                wait_until(deadline)
                yield _stack(pending)
                pending = []
        wait_until(item[3])
        pending.append(item)
        if len(pending) == batch_size or max_delay_s == 0:
            yield _stack(pending)
            pending = []
    if pending:
        yield _stack(pending)


def _stack(items: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (np.array([i[0] for i in items], dtype=np.int64), np.stack([i[1] for i in items]),
            np.array([i[2] for i in items], dtype=np.int64), np.array([i[3] for i in items], dtype=np.float64))


@dataclass
class LatencyHistogram:
    """Arrival-to-commit latencies in constant memory: log-spaced bins from 1 us to 1,000 s
    (0.5% wide), percentiles read at the bins' upper edges."""

    bins_per_decade: int = 460
    counts: np.ndarray = field(default=None)

    def __post_init__(self):
        self.edges = np.logspace(-6, 3, 9 * self.bins_per_decade + 1)
        if self.counts is None:
            self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)

    def add(self, seconds: np.ndarray) -> None:
        np.add.at(self.counts, np.searchsorted(self.edges, np.asarray(seconds, dtype=np.float64)), 1)

    def percentiles_ms(self) -> dict[str, float]:
        total = int(self.counts.sum())
        if not total:
            return {}
        cumulative = np.cumsum(self.counts) / total
        upper = np.append(self.edges, np.inf)
        return {name: float(1000 * upper[min(np.searchsorted(cumulative, q), len(self.edges) - 1)])
                for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
