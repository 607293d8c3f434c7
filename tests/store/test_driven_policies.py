"""The store's label-free policies (PBRS, HUS, CSTU, trust_balanced) in SQLite: the same stored
arrivals as the reference state machines (fill_store), across reopenings and rolled-back
batches; constant state; clear errors."""

import json
import sqlite3

import numpy as np
import pytest

from edgesieve.errors import StateFileError
from edgesieve.store import BatchTally, Capacity, RetainedBatch, RetainedStore
from edgesieve.store.policies import fill_store
from edgesieve.store.policy_driver import DRIVEN_POLICIES

CASES = [("pbrs", {}), ("hus", {"threshold": 0.6}), ("cstu", {}), ("trust_balanced", {}),
         ("trust_balanced", {"within": "random", "labelled_store": True}), ("high_entropy", {}), ("high_loss", {})]
N_CLASSES, M = 4, 40


def _stream(n=500, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, N_CLASSES)) * 2
    logits[:, 0] += 1.5  # one class predicted far more often: balancing has work to do
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    return p, rng.integers(N_CLASSES, size=n)


def _batch(p, labels, idx):
    return RetainedBatch(np.asarray(idx, np.float32)[:, None], idx, p[idx].argmax(1), np.zeros(len(idx)),
                         ["outside_window"] * len(idx), labels=labels[idx], probs=p[idx])


def _commit(store, p, labels, idx):
    return store.commit("s", _batch(p, labels, idx), BatchTally(int(idx[-1]) + 1, p[idx].argmax(1),
                                                                 np.ones(len(idx), bool), 4))


def _reference(name, params, p, labels, seed=3):
    scores = {"hus": p.max(1), "trust_balanced": p.max(1), "cstu": -(p * np.log(p)).sum(1),
              "high_entropy": -(p * np.log(p)).sum(1), "high_loss": -np.log(p[np.arange(len(p)), labels])}.get(name)
    machine = {"high_entropy": "evict_lowest", "high_loss": "evict_lowest"}.get(name, name)
    return fill_store(machine, M, scores=scores, probs=p, n_classes=N_CLASSES, seed=seed, params=params,
                      store_labels=labels if params.get("labelled_store") else None)


@pytest.mark.parametrize("name,params", CASES)
def test_the_store_holds_what_the_reference_state_machine_keeps_across_reopenings(name, params, tmp_path):
    p, labels = _stream()
    cap = Capacity(max_samples=M, policy=name, n_classes=N_CLASSES, params=params, seed=3)
    for start in range(0, len(p), 64):  # reopened for every batch: a resume at each batch boundary
        with RetainedStore(tmp_path / "s.db", capacity=cap) as store:
            _commit(store, p, labels, np.arange(start, min(len(p), start + 64)))
    with RetainedStore(tmp_path / "s.db", readonly=True) as store:
        got = store.to_numpy()
        slots = store._conn.execute("SELECT COUNT(*), COUNT(DISTINCT sample_id) FROM policy_slots").fetchone()
        info = store.info()
    assert np.array_equal(np.sort(got["arrival"]), _reference(name, params, p, labels))
    assert np.array_equal(got["x"][:, 0], got["arrival"])  # each stored row is its own arrival's data
    assert slots == (M, M) and info["samples"] == M
    assert info["counters"]["offered"] == len(p) and info["counters"]["stored"] == M


def test_a_rolled_back_batch_leaves_the_policy_as_committed(tmp_path, monkeypatch):
    p, labels = _stream()
    cap = Capacity(max_samples=M, policy="pbrs", n_classes=N_CLASSES, seed=3)
    with RetainedStore(tmp_path / "s.db", capacity=cap) as store:
        _commit(store, p, labels, np.arange(0, 200))
        original = RetainedStore._insert_rows
        calls = {"n": 0}

        def failing(self, rows):
            calls["n"] += 1
            if calls["n"] == 5:
                raise sqlite3.OperationalError("database or disk is full")
            return original(self, rows)

        monkeypatch.setattr(RetainedStore, "_insert_rows", failing)
        with pytest.raises(Exception, match="full"):
            _commit(store, p, labels, np.arange(200, 300))
        monkeypatch.setattr(RetainedStore, "_insert_rows", original)
        _commit(store, p, labels, np.arange(200, 300))  # the same batch again, as a rerun would
        _commit(store, p, labels, np.arange(300, 500))
        got = np.sort(store.to_numpy()["arrival"])
    assert np.array_equal(got, _reference("pbrs", {}, p, labels))


def test_the_state_stays_the_same_size_on_a_long_stream(tmp_path):
    p, labels = _stream(n=6000)
    cap = Capacity(max_samples=M, policy="cstu", n_classes=N_CLASSES)
    sizes = []
    with RetainedStore(tmp_path / "s.db", capacity=cap) as store:
        for start in range(0, len(p), 500):
            _commit(store, p, labels, np.arange(start, start + 500))
            sizes.append(len(store._meta("policy_state")))
    assert max(sizes[1:]) < 1.2 * min(sizes[1:])  # O(M + C), not O(stream)


def test_a_corrupt_policy_state_is_a_clear_error(tmp_path):
    p, labels = _stream()
    cap = Capacity(max_samples=M, policy="pbrs", n_classes=N_CLASSES)
    with RetainedStore(tmp_path / "s.db", capacity=cap) as store:
        _commit(store, p, labels, np.arange(0, 100))
        store._conn.execute("UPDATE meta SET value = '{\"policy\": \"pbrs\"' WHERE key = 'policy_state'")
    with RetainedStore(tmp_path / "s.db", capacity=cap) as store:
        with pytest.raises(StateFileError, match="pbrs policy state is corrupt"):
            _commit(store, p, labels, np.arange(100, 200))
        assert store.count() == M  # nothing of the failed batch was written


@pytest.mark.parametrize("kwargs,message", [
    ({"policy": "hus_validated", "max_samples": 10, "n_classes": 4}, "unknown store policy 'hus_validated'; available: .*pbrs"),
    ({"policy": "pbrs", "n_classes": 4}, "pbrs policy needs max_samples"),
    ({"policy": "pbrs", "max_samples": 10, "max_bytes": 100, "n_classes": 4}, "give max_samples, not max_bytes"),
    ({"policy": "cstu", "max_samples": 10}, "needs n_classes"),
    ({"policy": "hus", "max_samples": 10, "n_classes": 4, "params": {"threshold": 0}}, r"threshold must be a confidence in \(0, 1\)"),
    ({"policy": "trust_balanced", "max_samples": 10, "n_classes": 4, "params": {"within": "best"}}, "within must be one of"),
    ({"policy": "trust_balanced", "max_samples": 10, "n_classes": 4, "params": {"depth": 2}}, "bad parameters"),
    ({"policy": "reservoir", "max_samples": 10, "params": {"k": 1}}, "reservoir policy takes no parameters"),
])
def test_bad_capacities_are_refused_before_a_store_is_made(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Capacity(**kwargs)


def test_a_filter_without_confidence_is_told_to_export_again(tmp_path):
    p, labels = _stream()
    batch = _batch(p, labels, np.arange(10))
    batch = RetainedBatch(batch.arrays, batch.arrivals, batch.predicted, batch.scores, batch.reasons, batch.labels)
    with RetainedStore(tmp_path / "s.db", capacity=Capacity(max_samples=5, policy="hus", n_classes=4)) as store:
        with pytest.raises(ValueError, match="reads the model's confidence of each sample.*export it again"):
            store.commit("s", batch, BatchTally(10, batch.predicted, np.ones(10, bool), 4))
        assert store.count() == 0 and store.next_arrival("s") == 0


def test_every_driven_policy_is_a_registered_label_free_policy():
    from edgesieve.store.policies import policy_class

    assert all(policy_class(machine).label_free for machine, _ in DRIVEN_POLICIES.values() if machine != "evict_lowest")
    assert json.loads(json.dumps(Capacity(max_samples=3, policy="pbrs", n_classes=2).__dict__))["n_classes"] == 2


def test_high_loss_reads_the_label_where_there_is_one_and_the_prediction_otherwise():
    from edgesieve.store.policy_driver import scores_from_probs

    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    loss = scores_from_probs("loss", p, np.array([2, -1]))
    assert np.allclose(loss, [-np.log(0.1), -np.log(0.6)])
    with pytest.raises(ValueError, match="unknown score 'margin'"):
        scores_from_probs("margin", p)


def test_labels_given_after_the_fact_move_stored_samples_as_the_reference_does(tmp_path):
    # one arrival per batch, labelled right after its batch: what fill_store does with store_labels
    p, labels = _stream(n=240)
    params = {"within": "random", "labelled_store": True}
    cap = Capacity(max_samples=M, policy="trust_balanced", n_classes=N_CLASSES, params=params, seed=3)
    unlabelled = np.full(len(p), -1)
    with RetainedStore(tmp_path / "s.db", capacity=cap) as store:
        for i in range(len(p)):
            if _commit(store, p, unlabelled, np.array([i])):
                new_id = store._conn.execute("SELECT MAX(id) FROM samples").fetchone()[0]
                assert store.label([new_id], [labels[i]]) == 1
        got = store.to_numpy()
        assert store.info()["class_source"] == {"label": M, "predicted": 0}
    assert np.array_equal(np.sort(got["arrival"]), _reference("trust_balanced", params, p, labels))
    assert np.array_equal(got["label"], labels[got["arrival"]])


def test_labelling_is_all_or_nothing_with_clear_errors(tmp_path):
    p, labels = _stream(n=100)
    cap = Capacity(max_samples=M, policy="class_balanced")
    with RetainedStore(tmp_path / "s.db", capacity=cap) as store:
        _commit(store, p, np.full(100, -1), np.arange(100))
        ids = store.ids()
        for args, message in (((ids[:2] + [10_000], [1, 2, 3]), r"no stored sample with id \[10000\]; nothing was labelled"),
                              ((ids[:2], [1, -2]), r"labels must be classes in \[0, C\), got \[-2\]"),
                              ((ids[:2], [1]), "2 sample ids but 1 labels"),
                              ((ids[:1] * 2, [1, 1]), "labelled once per call"),
                              ((ids[:1], [1.5]), "labels must be integers")):
            with pytest.raises(ValueError, match=message):
                store.label(*args)
        assert store.info()["class_source"]["label"] == 0  # nothing of a failed call was written
        assert store.label(ids[:3], [2, 2, 2]) == 3 and store.info()["class_source"]["label"] == 3
    with RetainedStore(tmp_path / "s.db", readonly=True) as store:
        with pytest.raises(Exception, match="read-only"):
            store.label(ids[:1], [0])
