"""Micro-batching under a delay budget: hand-computed batches on a fake clock, the latency
histogram against numpy's percentiles, and a paced stream through the real filter (the same
decisions as one big batch, latency reported)."""

import numpy as np
import pytest

from edgesieve.device.filter_loop import run_filter
from edgesieve.device.micro_batch import LatencyHistogram, PacedSource, micro_batches
from edgesieve.device.sources import ArraySource
from edgesieve.store import RetainedStore


class FakeClock:
    """time.monotonic and time.sleep, for a processing loop that itself costs ``work`` per batch."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        assert s > 0
        self.now += s


def arrivals_at(times):
    return iter([(i, np.full(2, float(i)), -1, t) for i, t in enumerate(times)])


def batches(times, batch_size, max_delay_s, work=0.0):
    clock, out = FakeClock(), []
    for idx, x, labels, at in micro_batches(arrivals_at(times), batch_size, max_delay_s, clock=clock, sleep=clock.sleep):
        out.append((idx.tolist(), round(clock.now, 6)))
        assert np.array_equal(x[:, 0], idx) and (at <= clock.now + 1e-12).all()
        clock.now += work  # deciding and committing the batch
    return out


def test_a_batch_closes_when_full_or_when_waiting_would_pass_the_first_arrivals_deadline():
    times = [0.0, 0.001, 0.002, 0.010, 0.011, 0.030]
    # 5 ms budget: {0,1,2} closes at 5 ms (arrival 3 comes at 10 ms); {3,4} at 15 ms; {5} at the end of the stream
    assert batches(times, 8, 0.005) == [([0, 1, 2], 0.005), ([3, 4], 0.015), ([5], 0.03)]
    # full batches first: the size bound closes {0,1} at once
    assert batches(times, 2, 0.005) == [([0, 1], 0.001), ([2], 0.007), ([3, 4], 0.011), ([5], 0.03)]
    # no budget: only full batches (and the rest at the end)
    assert batches(times, 4, None) == [([0, 1, 2, 3], 0.01), ([4, 5], 0.03)]
    # 0 ms: each arrival alone, as it comes
    assert batches(times, 8, 0.0) == [([i], t) for i, t in enumerate(times)]


def test_a_backlog_is_taken_in_full_batches():
    # the loop needs 50 ms per batch while arrivals come every 1 ms: what waits is taken at once, up to the size
    out = batches([0.001 * i for i in range(20)], 8, 0.002, work=0.05)
    assert [len(b) for b, _ in out] == [3, 8, 8, 1]


def test_bad_budgets_are_refused():
    with pytest.raises(ValueError, match="maximum delay must be >= 0 ms"):
        list(micro_batches(arrivals_at([0.0]), 4, -0.001))
    with pytest.raises(ValueError, match="batch_size must be positive"):
        list(micro_batches(arrivals_at([0.0]), 0, None))
    with pytest.raises(ValueError, match="arrival rate must be positive"):
        PacedSource(ArraySource("s", np.zeros((3, 2))), 0)


def test_the_latency_histogram_matches_numpy_within_its_bin_width():
    values = np.random.default_rng(0).lognormal(-7, 1.5, 50_000)
    h = LatencyHistogram()
    for part in np.array_split(values, 7):
        h.add(part)
    got = h.percentiles_ms()
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        exact = 1000 * np.percentile(values, q)
        assert exact <= got[name] <= exact * 1.011, name  # the bin's upper edge, bins 0.5% wide
    assert h.counts.nbytes < 40_000  # constant memory whatever the stream's length


def test_a_paced_stream_decides_as_one_batch_would_and_reports_arrival_latency(onnx_filter, device_artifacts, tmp_path):
    stream = device_artifacts["stream"][:300]
    with RetainedStore(tmp_path / "batch.db") as store:
        run_filter(onnx_filter, ArraySource("s", stream), store, batch_size=300, progress=False)
        whole = store.to_numpy()
    with RetainedStore(tmp_path / "paced.db") as store:
        summary = run_filter(onnx_filter, PacedSource(ArraySource("s", stream), 3000.0), store, batch_size=64,
                             max_delay_ms=2.0, progress=False)
        paced = store.to_numpy()
    assert np.array_equal(whole["arrival"], paced["arrival"]) and np.allclose(whole["score"], paced["score"], atol=1e-5)
    assert summary.seen == 300 and 1 < summary.mean_batch < 64  # the budget, not the size, closed the batches
    assert set(summary.arrival_latency_ms) == {"p50", "p90", "p99"}
    assert "from arrival to commit (max delay 2 ms" in summary.format()
    # resuming a paced stream continues after the last committed arrival
    with RetainedStore(tmp_path / "paced.db") as store:
        again = run_filter(onnx_filter, PacedSource(ArraySource("s", stream), 3000.0), store, max_delay_ms=2.0, progress=False)
    assert again.seen == 0 and again.started_at == 300


def test_a_paced_stream_stops_at_exactly_its_limit_and_resumes_after_it(onnx_filter, device_artifacts, tmp_path):
    stream = device_artifacts["stream"][:200]
    with RetainedStore(tmp_path / "paced.db") as store:
        first = run_filter(onnx_filter, PacedSource(ArraySource("s", stream), 5000.0), store, batch_size=64,
                           max_delay_ms=None, limit=77, progress=False)
        assert first.seen == 77 and first.next_arrival == 77 and store.next_arrival("s") == 77
    with RetainedStore(tmp_path / "paced.db") as store:
        rest = run_filter(onnx_filter, PacedSource(ArraySource("s", stream), 5000.0), store, batch_size=64,
                          max_delay_ms=None, progress=False)
        assert rest.started_at == 77 and rest.seen == 123


def test_the_cli_replays_a_live_stream_under_a_delay_budget(device_artifacts, tmp_path, capsys):
    from edgesieve.cli.main import main

    argv = ["filter", "--runtime", "onnx", "--model", str(device_artifacts["folder"] / "filter.onnx"), "--input",
            str(device_artifacts["folder"] / "stream.npy"), "--store", str(tmp_path / "s.db"), "--limit", "200",
            "--no-progress", "--arrival-rate", "4000"]
    assert main([*argv, "--max-delay-ms", "1"]) == 0
    assert "from arrival to commit (max delay 1 ms" in capsys.readouterr().out
    for flag, value, message in [("--max-delay-ms=-1", None, "must be >= 0"), ("--arrival-rate", "0", "must be positive"),
                                 ("--max-delay-ms", "nan", "must be a finite number")]:
        with pytest.raises(SystemExit) as exit_:
            main([*argv[:-2], flag] + ([value] if value is not None else []))
        assert exit_.value.code == 2 and message in capsys.readouterr().err
