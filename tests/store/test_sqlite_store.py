import sqlite3
import threading

import numpy as np
import pytest

from edgesieve.store import (
    BatchTally,
    Capacity,
    RetainedBatch,
    RetainedStore,
    StoreError,
    StoreFullError,
    StoreVersionError,
)


def batch(start, n, *, shape=(1, 4, 4), scores=None, labels=None, dtype=np.float32):
    rng = np.random.default_rng(start)
    arrays = rng.random((n, *shape)).astype(dtype)
    arrivals = np.arange(start, start + n)
    return RetainedBatch(
        arrays=arrays,
        arrivals=arrivals,
        predicted=arrivals % 3,
        scores=np.asarray(scores if scores is not None else rng.random(n)),
        reasons=["outside_window"] * n,
        labels=labels,
    )


def tally(b: RetainedBatch, seen_extra=0):
    n = len(b)
    return BatchTally(int(b.arrivals[-1]) + 1, b.predicted, np.ones(n, bool), int(b.arrays[0].nbytes))


def test_round_trip_arrays_and_metadata(tmp_path):
    path = tmp_path / "s.db"
    b = batch(0, 5, labels=np.array([3, -1, 1, -1, 0]))
    with RetainedStore(path) as store:
        assert store.commit("cam0", b, tally(b)) == 5
    with RetainedStore(path, readonly=True) as store:
        data = store.to_numpy()
        assert np.array_equal(data["x"], b.arrays) and data["x"].dtype == np.float32
        assert data["label"].tolist() == [3, -1, 1, -1, 0]
        assert data["arrival"].tolist() == [0, 1, 2, 3, 4]
        sample = store.read(int(data["id"][1]))
        assert sample["label"] is None and sample["reason"] == "outside_window" and sample["source"] == "cam0"
        assert store.next_arrival("cam0") == 5 and store.next_arrival("other") == 0
        assert store.integrity_check() == "ok"
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.uint8])
def test_any_dtype_round_trips(tmp_path, dtype):
    b = batch(0, 3, dtype=dtype)
    with RetainedStore(tmp_path / "s.db") as store:
        store.commit("s", b, tally(b))
        assert np.array_equal(store.to_numpy()["x"], b.arrays)


def test_reject_policy_counts_and_bytes_capacity(tmp_path):
    b = batch(0, 10)
    per = int(b.arrays[0].nbytes)
    with RetainedStore(tmp_path / "s.db", capacity=Capacity(max_bytes=3 * per + 1)) as store:
        assert store.commit("s", b, tally(b)) == 3
        assert store.counter("rejected_full") == 7 and store.counter("stored_bytes") == 3 * per
        # position still advances: rejected samples are not re-processed on resume
        assert store.next_arrival("s") == 10


def test_evict_lowest_keeps_the_highest_scores(tmp_path):
    with RetainedStore(tmp_path / "s.db", capacity=Capacity(max_samples=4, policy="evict_lowest")) as store:
        scores = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 0.5, 8.0, 2.0])
        for i in range(0, 8, 2):
            b = batch(i, 2, scores=scores[i : i + 2])
            store.commit("s", b, tally(b))
        assert sorted(store.to_numpy()["score"].tolist()) == [5.0, 7.0, 8.0, 9.0]
        assert store.counter("evicted") == 2 and store.counter("rejected_full") == 2 and store.count() == 4


def test_reservoir_is_uniform_and_deterministic(tmp_path):
    def run(path, seed):
        with RetainedStore(path, capacity=Capacity(max_samples=20, policy="reservoir", seed=seed)) as store:
            for i in range(0, 400, 40):
                b = batch(i, 40)
                store.commit("s", b, tally(b))
            return sorted(store.to_numpy()["arrival"].tolist())

    a = run(tmp_path / "a.db", 0)
    assert a == run(tmp_path / "b.db", 0) and len(a) == 20
    # uniform over everything offered: averaged over seeds, the kept arrivals centre near 200
    means = [np.mean(run(tmp_path / f"r{s}.db", s)) for s in range(1, 13)]
    assert 150 < np.mean(means) < 250
    with pytest.raises(ValueError, match="reservoir policy needs max_samples"):
        Capacity(policy="reservoir")


def test_disk_full_rolls_back_and_keeps_committed_data(tmp_path):
    path = tmp_path / "s.db"
    with RetainedStore(path, max_db_bytes=256 * 1024) as store:
        first = batch(0, 4)
        store.commit("s", first, tally(first))
        big = batch(4, 200, shape=(1, 28, 28))
        with pytest.raises(StoreFullError, match="size limit is full.*4 samples committed before are intact"):
            store.commit("s", big, tally(big))
        assert store.count() == 4 and store.next_arrival("s") == 4
    with RetainedStore(path) as store:
        assert store.integrity_check() == "ok"
        assert np.array_equal(store.to_numpy()["x"], first.arrays)


def test_incompatible_and_corrupt_files(tmp_path):
    path = tmp_path / "s.db"
    RetainedStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreVersionError, match="format version 99"):
        RetainedStore(path)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a readable edgesieve store"):
        RetainedStore(garbage)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not an edgesieve store"):
        RetainedStore(other)
    with pytest.raises(StoreError, match="no store at"):
        RetainedStore(tmp_path / "missing.db", readonly=True)


def test_reopen_with_a_different_capacity_is_refused(tmp_path):
    RetainedStore(tmp_path / "s.db", capacity=Capacity(max_samples=5)).close()
    with pytest.raises(ValueError, match="would change its policy"):
        RetainedStore(tmp_path / "s.db", capacity=Capacity(max_samples=6))
    RetainedStore(tmp_path / "s.db").close()  # no capacity given: the saved one applies


def test_reader_reads_while_writer_writes(tmp_path):
    path = tmp_path / "s.db"
    writer = RetainedStore(path, synchronous="NORMAL")
    counts, errors = [], []

    def read():
        try:
            with RetainedStore(path, readonly=True) as reader:
                for _ in range(50):
                    counts.append(reader.count())
        except Exception as err:  # surfaced below
            errors.append(err)

    thread = threading.Thread(target=read)
    thread.start()
    for i in range(0, 200, 10):
        b = batch(i, 10)
        writer.commit("s", b, tally(b))
    thread.join()
    writer.close()
    assert not errors and counts == sorted(counts) and all(c % 10 == 0 for c in counts)


def test_dataset_view(tmp_path):
    torch = pytest.importorskip("torch")
    from edgesieve.store.dataset import StoreDataset

    b = batch(0, 4, labels=np.array([1, -1, 2, -1]))
    with RetainedStore(tmp_path / "s.db") as store:
        store.commit("s", b, tally(b))
    ds = StoreDataset(tmp_path / "s.db")
    assert len(ds) == 4
    x, target = ds[1]
    assert isinstance(x, torch.Tensor) and x.shape == (1, 4, 4) and target == int(b.predicted[1])
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    xs, ys = next(iter(loader))
    assert xs.shape == (2, 1, 4, 4) and ys.tolist() == [1, int(b.predicted[1])]
    with pytest.raises(ValueError, match="has no label"):
        StoreDataset(tmp_path / "s.db", use_predicted_when_unlabelled=False)[1]


@pytest.mark.parametrize("policy", ["class_balanced", "gdumb"])
def test_class_balancing_policies_balance_the_store_and_resume_identically(tmp_path, policy):
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=600, p=[0.8, 0.15, 0.05])  # every class seen >= M / C = 10 times

    def run(path, stop_at=None):
        cap = Capacity(max_samples=30, policy=policy, seed=4)
        store = RetainedStore(path, capacity=cap)
        for i in range(0, 600, 50):
            if stop_at is not None and i == stop_at:  # the device stops; a new process reopens the store
                store.close()
                store = RetainedStore(path, capacity=cap)
            b = batch(i, 50, labels=labels[i : i + 50])
            store.commit("s", b, tally(b))
        kept = store.to_numpy()
        store.close()
        return kept

    kept = run(tmp_path / "a.db")
    counts = np.bincount(kept["label"], minlength=3)
    assert counts.sum() == 30 and counts.max() - counts.min() <= 1, counts
    again = run(tmp_path / "b.db", stop_at=300)
    assert sorted(again["arrival"].tolist()) == sorted(kept["arrival"].tolist())  # resuming makes the same choices


def test_class_balancing_uses_the_predicted_class_when_the_stream_has_no_labels(tmp_path):
    with RetainedStore(tmp_path / "p.db", capacity=Capacity(max_samples=9, policy="class_balanced")) as store:
        for i in range(0, 300, 30):
            b = batch(i, 30)  # no labels: predicted = arrival % 3
            store.commit("s", b, tally(b))
        predicted = store.to_numpy()["predicted"]
    assert np.bincount(predicted, minlength=3).tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="class_balanced policy needs max_samples"):
        Capacity(policy="class_balanced")
