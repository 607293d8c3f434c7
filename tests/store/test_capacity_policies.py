"""Capacity policies held to their papers (SPEC section 4): reservoir keeps every arrival with
probability M / n; CBRS balances the classes and is uniform within a class; GDumb's greedy rule on
hand-computed cases; evict_lowest keeps the top scores; state round-trips mid-stream; bad input."""

import json

import numpy as np
import pytest

from edgesieve.store.policies import create_policy, fill_store, list_policies


def test_reservoir_keeps_every_arrival_with_probability_m_over_n():
    n, m, runs = 40, 8, 4000
    hits = np.zeros(n)
    for seed in range(runs):
        hits[fill_store("reservoir", m, labels=np.zeros(n, int), seed=seed)] += 1
    # binomial(runs, 0.2) per position: sd = sqrt(4000 * 0.2 * 0.8) = 25.3; 4.5 sd over 40 positions
    assert np.all(np.abs(hits - runs * m / n) < 4.5 * np.sqrt(runs * 0.2 * 0.8))
    assert hits.sum() == runs * m


def imbalanced_labels(rng, counts):
    labels = np.concatenate([np.full(c, k) for k, c in enumerate(counts)])
    return labels[rng.permutation(len(labels))]


def test_cbrs_balances_classes_seen_at_least_m_over_c_times():
    worst = 0
    for seed in range(50):
        labels = imbalanced_labels(np.random.default_rng(seed), [600, 150, 60, 40])  # every class >= M / C = 25
        kept = fill_store("class_balanced", 100, labels=labels, seed=seed)
        counts = np.bincount(labels[kept], minlength=4)
        assert counts.sum() == 100
        worst = max(worst, counts.max() - counts.min())
    assert worst <= 1  # stated bound: the final class counts differ by at most one
    # reservoir on the same stream keeps the imbalance
    labels = imbalanced_labels(np.random.default_rng(0), [600, 150, 60, 40])
    assert np.bincount(labels[fill_store("reservoir", 100, labels=labels)], minlength=4)[3] < 12


def test_cbrs_keeps_early_and_late_arrivals_of_a_class_with_equal_probability():
    early = late = 0
    for seed in range(400):
        labels = imbalanced_labels(np.random.default_rng(seed), [300, 60, 40])
        kept = set(fill_store("class_balanced", 60, labels=labels, seed=seed).tolist())
        majority = np.flatnonzero(labels == 0)
        early += sum(i in kept for i in majority[:150])
        late += sum(i in kept for i in majority[150:])
    assert abs(early - late) / (early + late) < 0.06


def test_gdumb_greedy_rule_on_a_hand_computed_stream():
    # M = 4. Arrivals 0-3 fill the store: classes [0, 0, 0, 1]. Arrival 4 (class 1): k = 2, m_1 = 1 < 2
    # -> replaces a class-0 sample (the largest). Arrival 5 (class 0): m_0 = 2, not < 2 -> dropped.
    # Arrival 6 (class 2): k = 3, m_2 = 0 < 4/3 -> replaces one of the largest (0 or 1, 2 each).
    labels = [0, 0, 0, 1, 1, 0, 2]
    policy = create_policy("gdumb", 4, seed=0).start(3)
    slots = [policy.offer(c) for c in labels]
    assert slots[:4] == [0, 1, 2, 3] and slots[4] in (0, 1, 2) and slots[5] is None and slots[6] is not None
    assert sorted(policy.slots_.counts().tolist()) == [1, 1, 2]


def test_evict_lowest_keeps_the_top_scores():
    scores = np.array([0.5, 0.1, 0.9, 0.3, 0.8, 0.2, 0.7])
    kept = fill_store("evict_lowest", 3, scores=scores)
    assert sorted(kept.tolist()) == [2, 4, 6]


@pytest.mark.parametrize("name", ["reservoir", "class_balanced", "gdumb", "evict_lowest"])
def test_state_round_trips_mid_stream_and_memory_stays_bounded(name):
    rng = np.random.default_rng(3)
    labels, scores = rng.integers(0, 5, 3000), rng.random(3000)
    a = create_policy(name, 50, seed=7).start(5)
    for i in range(1000):
        a.offer(int(labels[i]), float(scores[i]))
    size_then = len(a.dumps())
    b = create_policy(name, 50, seed=7).set_state(json.loads(a.dumps()))
    for i in range(1000, 3000):
        assert a.offer(int(labels[i]), float(scores[i])) == b.offer(int(labels[i]), float(scores[i]))
    assert len(a.dumps()) < 1.2 * size_then  # the state does not grow with the stream


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown capacity policy 'lru'; available: class_balanced"):
        create_policy("lru", 10)
    with pytest.raises(ValueError, match="capacity must be a positive number of samples, got 0"):
        create_policy("reservoir", 0).start(2)
    with pytest.raises(ValueError, match="class_balanced balances classes: give the class of each arrival"):
        fill_store("class_balanced", 10, scores=np.ones(20))
    with pytest.raises(ValueError, match="evict_lowest needs a score of each arrival"):
        fill_store("evict_lowest", 10, labels=np.zeros(20, int))
    with pytest.raises(ValueError, match="call start"):
        create_policy("gdumb", 10).offer(0)
    assert {"reservoir", "class_balanced", "gdumb", "evict_lowest"} <= set(list_policies())


def test_policies_are_torch_free_and_a_corrupt_state_is_refused():
    import subprocess
    import sys

    code = "import sys, edgesieve.store.policies as p; p.list_policies(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    from edgesieve.errors import StateFileError

    a = create_policy("class_balanced", 5).start(2)
    for c in [0, 1, 0, 1, 0, 0]:
        a.offer(c)
    state = json.loads(a.dumps())
    state["slots"]["by_class"][0].append(99)
    with pytest.raises(StateFileError, match="slot lists disagree"):
        create_policy("class_balanced", 5).set_state(state)
    with pytest.raises(StateFileError, match="is for policy 'class_balanced'"):
        create_policy("gdumb", 5).set_state(json.loads(a.dumps()))
