import wave

import numpy as np
import pytest

from edgesieve.device.filter_loop import run_filter
from edgesieve.device.sources import ArraySource, open_source
from edgesieve.device.torch_filter import TorchFilter
from edgesieve.store import RetainedStore


def test_torch_and_onnx_runtimes_store_the_same(device_artifacts, onnx_filter, tmp_path):
    stream = device_artifacts["stream"][:500]
    results = {}
    for name, filt in (("torch", TorchFilter(device_artifacts["selector"])), ("onnx", onnx_filter)):
        with RetainedStore(tmp_path / f"{name}.db") as store:
            summary = run_filter(filt, ArraySource("s", stream), store, batch_size=64, progress=False)
            results[name] = store.to_numpy()
        assert summary.seen == 500 and summary.stored == summary.kept and 0 < summary.kept < 500
        assert set(summary.latency_ms) == {"p50", "p90", "p99"}
        assert "per-sample latency" in summary.format()
    assert np.array_equal(results["torch"]["arrival"], results["onnx"]["arrival"])
    assert np.array_equal(results["torch"]["x"], stream[results["torch"]["arrival"]])


def test_resume_continues_without_duplicates(onnx_filter, device_artifacts, tmp_path):
    stream = device_artifacts["stream"][:600]
    with RetainedStore(tmp_path / "whole.db") as store:
        run_filter(onnx_filter, ArraySource("s", stream), store, batch_size=50, progress=False)
        whole = store.to_numpy()["arrival"]
    with RetainedStore(tmp_path / "parts.db") as store:
        first = run_filter(onnx_filter, ArraySource("s", stream), store, batch_size=50, limit=130, progress=False)
        assert first.next_arrival == 130 and first.seen == 130  # exactly the limit, not the batch holding it
        assert store.next_arrival("s") == 130
    with RetainedStore(tmp_path / "parts.db") as store:
        second = run_filter(onnx_filter, ArraySource("s", stream), store, batch_size=50, progress=False)
        assert second.started_at == 130 and second.seen == 470
        parts = store.to_numpy()["arrival"]
        info = store.info()
    assert np.array_equal(parts, whole)
    assert sum(c["seen"] for c in info["classes"]) == 600


def test_nonfinite_samples_are_skipped_or_rejected(onnx_filter, device_artifacts, tmp_path):
    stream = device_artifacts["stream"][:100].copy()
    stream[[3, 50]] = np.nan
    stream[70, 0, 0, 0] = np.inf
    with RetainedStore(tmp_path / "skip.db") as store:
        summary = run_filter(onnx_filter, ArraySource("s", stream), store, batch_size=32, progress=False)
        stored = store.to_numpy()["arrival"].tolist()
        assert summary.skipped_nonfinite == 3 and summary.seen == 97 and store.counter("skipped_nonfinite") == 3
        assert not {3, 50, 70} & set(stored) and store.next_arrival("s") == 100
    with RetainedStore(tmp_path / "reject.db") as store:
        with pytest.raises(ValueError, match=r"arrival indices \[3\] hold NaN or Inf"):
            run_filter(onnx_filter, ArraySource("s", stream), store, batch_size=32, nonfinite="reject", progress=False)
        assert store.count() == 0 and store.next_arrival("s") == 0


def test_all_nonfinite_batch_still_advances(onnx_filter, tmp_path):
    stream = np.full((10, 1, 28, 28), np.nan, dtype=np.float32)
    with RetainedStore(tmp_path / "s.db") as store:
        summary = run_filter(onnx_filter, ArraySource("s", stream), store, batch_size=4, progress=False)
        assert summary.next_arrival == 10 and store.next_arrival("s") == 10 and summary.seen == 0


def test_shape_and_dtype_mismatch(onnx_filter, tmp_path):
    with RetainedStore(tmp_path / "s.db") as store:
        with pytest.raises(ValueError, match=r"shape \(1, 32, 32\).*expects \(1, 28, 28\)"):
            run_filter(onnx_filter, ArraySource("s", np.zeros((4, 1, 32, 32), np.float32)), store, progress=False)
        with pytest.raises(TypeError, match="uint8.*floating-point"):
            run_filter(onnx_filter, ArraySource("s", np.zeros((4, 1, 28, 28), np.uint8)), store, progress=False)


def test_sources(tmp_path, device_artifacts):
    stream = device_artifacts["stream"][:5]
    np.savez(tmp_path / "with_labels.npz", x=stream, y=np.arange(5))
    src = open_source(str(tmp_path / "with_labels.npz"), (1, 28, 28))
    (_, x, labels), = list(src.batches(0, 10))
    assert np.array_equal(x, stream) and labels.tolist() == [0, 1, 2, 3, 4]
    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(3):
        np.save(folder / f"{i:03d}.npy", stream[i])
    batches = list(open_source(str(folder), (1, 28, 28)).batches(1, 10))
    assert batches[0][0].tolist() == [1, 2] and np.array_equal(batches[0][1], stream[1:3])
    with pytest.raises(ValueError, match="not a folder, an .npy/.npz file, or a data set name"):
        open_source("nothing-here", (1, 28, 28))
    with pytest.raises(ValueError, match="does not exist"):
        open_source(str(tmp_path / "missing.npy"), (1, 28, 28))


def test_wav_and_image_files(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    signal = (np.sin(np.linspace(0, 50, 300)) * 20000).astype("<i2")
    with wave.open(str(tmp_path / "a.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(signal.tobytes())
    (_, x, _), = list(open_source(str(tmp_path), (1, 400)).batches(0, 4))
    # peak-normalised, as the training data are (issue 10, defect 3: this asserted the raw scale before)
    expected = (signal / 32768.0) / np.abs(signal / 32768.0).max()
    assert x.shape == (1, 1, 400) and np.allclose(x[0, 0, :300], expected) and not x[0, 0, 300:].any()
    img_dir = tmp_path / "img"
    img_dir.mkdir()
    PIL.fromarray(np.full((40, 40), 255, np.uint8)).save(img_dir / "white.png")
    (_, x, _), = list(open_source(str(img_dir), (1, 28, 28)).batches(0, 4))
    assert x.shape == (1, 1, 28, 28) and np.allclose(x, 1.0)


def test_label_free_store_policies_see_the_whole_stream_with_offer_all(device_artifacts, onnx_filter, tmp_path):
    from edgesieve.store import Capacity
    from edgesieve.store.policies import fill_store

    stream = device_artifacts["stream"][:400]
    kept = {}
    for runtime, filt in (("torch", TorchFilter(device_artifacts["selector"])), ("onnx", onnx_filter)):
        d = filt.decide(stream)
        for name in ("pbrs", "cstu"):
            cap = Capacity(max_samples=30, policy=name, n_classes=filt.n_classes)
            with RetainedStore(tmp_path / f"{runtime}-{name}.db", capacity=cap) as store:
                summary = run_filter(filt, ArraySource("s", stream), store, batch_size=64, progress=False, offer="all")
                kept[runtime, name] = np.sort(store.to_numpy()["arrival"])
            assert summary.seen == summary.kept == 400 and summary.stored >= 30
            entropy = -(d.probs * np.log(np.clip(d.probs, 1e-12, None))).sum(1)
            reference = fill_store(name, 30, labels=d.predicted, scores=entropy if name == "cstu" else None,
                                   n_classes=filt.n_classes)
            assert np.array_equal(kept[runtime, name], reference), (runtime, name)
    assert np.array_equal(kept["torch", "pbrs"], kept["onnx", "pbrs"])


def test_offer_kept_gives_a_label_free_policy_only_what_the_filter_keeps(onnx_filter, device_artifacts, tmp_path):
    from edgesieve.store import Capacity

    stream = device_artifacts["stream"][:300]
    d = onnx_filter.decide(stream)
    confidence = d.probs.max(1)
    keep, threshold = d.keep, float(np.median(confidence[d.keep]))
    cap = Capacity(max_samples=20, policy="hus", params={"threshold": threshold}, n_classes=onnx_filter.n_classes)
    with RetainedStore(tmp_path / "s.db", capacity=cap) as store:
        run_filter(onnx_filter, ArraySource("s", stream), store, batch_size=50, progress=False)
        arrivals = store.to_numpy()["arrival"]
        assert store.counter("offered") == int(keep.sum())
    assert len(arrivals) == 20 and keep[arrivals].all() and (confidence[arrivals] >= threshold).all()
    with pytest.raises(ValueError, match="offer must be one of"):
        run_filter(onnx_filter, ArraySource("s", stream), RetainedStore(tmp_path / "t.db"), offer="some", progress=False)


def test_an_npy_stream_is_read_in_batches_exactly_as_numpy_loads_it(tmp_path):
    from edgesieve.device.sources import NpyFileSource

    x = np.random.default_rng(0).random((103, 1, 5, 4), dtype=np.float32)
    np.save(tmp_path / "s.npy", x)
    src = open_source(str(tmp_path / "s.npy"), (1, 5, 4))
    assert isinstance(src, NpyFileSource) and len(src) == 103
    got = list(src.batches(7, 25))
    assert [a[0] for a, _, _ in got] == [7, 32, 57, 82] and np.array_equal(np.concatenate([b for _, b, _ in got]), x[7:])
    assert all((lab == -1).all() for _, _, lab in got)
    np.save(tmp_path / "f.npy", np.asfortranarray(x))  # a rare layout still reads right
    assert np.array_equal(next(open_source(str(tmp_path / "f.npy"), (1, 5, 4)).batches(0, 200))[1], x)
    (tmp_path / "t.npy").write_bytes((tmp_path / "s.npy").read_bytes()[:-100])
    with pytest.raises(ValueError, match="is truncated"):
        list(open_source(str(tmp_path / "t.npy"), (1, 5, 4)).batches(0, 50))


def test_the_summary_says_whose_class_a_balancing_store_counted(onnx_filter, device_artifacts, tmp_path):
    from edgesieve.store import Capacity

    stream = device_artifacts["stream"][:200]
    labels = np.r_[np.zeros(100, np.int64), np.full(100, -1)]  # half the stream labelled
    with RetainedStore(tmp_path / "c.db", capacity=Capacity(max_samples=30, policy="class_balanced")) as store:
        summary = run_filter(onnx_filter, ArraySource("s", stream, labels), store, progress=False, offer="all")
    source = summary.store_info["class_source"]
    assert source["label"] + source["predicted"] == 30 and source["label"] > 0
    assert f"by their label ({source['label']}) or, without one, the predicted class ({source['predicted']})" in summary.format()
    cap = Capacity(max_samples=30, policy="pbrs", n_classes=onnx_filter.n_classes)
    with RetainedStore(tmp_path / "p.db", capacity=cap) as store:
        summary = run_filter(onnx_filter, ArraySource("s", stream), store, progress=False, offer="all")
    assert "pbrs balanced by the predicted class (label-free)" in summary.format()


def test_limit_must_be_positive(onnx_filter, device_artifacts, tmp_path):
    with RetainedStore(tmp_path / "s.db") as store:
        with pytest.raises(ValueError, match="limit must be a positive number of arrivals, got 0"):
            run_filter(onnx_filter, ArraySource("s", device_artifacts["stream"][:10]), store, limit=0, progress=False)
