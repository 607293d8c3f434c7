"""The label-free balancing stores held to their papers' rules (SPEC section 4) on hand-computed
streams: PBRS (CBRS on the predicted class, "largest" only while it is), HUS (confidence
threshold, own-class replacement without a coin) and CSTU (age and uncertainty heuristic)."""

import json
import math

import numpy as np
import pytest

from edgesieve.store.policies import create_policy, fill_store


def offers(name, capacity, n_classes, arrivals, seed=0, **params):
    policy = create_policy(name, capacity, seed, **params).start(n_classes)
    return policy, [policy.offer(c, s) for c, s in arrivals]


def test_pbrs_forgets_that_a_class_was_largest_where_cbrs_remembers():
    # M = 3, classes [0, 0, 0] then 1: replaces a 0 -> {0: 2, 1: 1}; 1 again: 0 is the largest, 1 is
    # not -> replaces a 0 -> {0: 1, 1: 2}. Now a 0 arrives: class 0 is no longer the largest, so
    # PBRS stores it always; CBRS remembers class 0 was largest and flips a coin m_0 / n_0 = 1 / 4.
    stream = [0, 0, 0, 1, 1, 0]
    pbrs = cbrs = 0
    for seed in range(2000):
        pbrs += offers("pbrs", 3, 2, [(c, None) for c in stream], seed)[1][-1] is not None
        cbrs += offers("class_balanced", 3, 2, [(c, None) for c in stream], seed)[1][-1] is not None
    assert pbrs == 2000
    assert abs(cbrs / 2000 - 0.25) < 0.04  # binomial sd 0.0097


def test_pbrs_flips_the_m_over_n_coin_for_a_currently_largest_class():
    # M = 2, [0, 0] then 1 (replaces a 0: {0, 1}); then 0: both are largest, coin m_0 / n_0 = 1 / 3
    kept = sum(offers("pbrs", 2, 2, [(0, None), (0, None), (1, None), (0, None)], seed)[1][-1] is not None
               for seed in range(3000))
    assert abs(kept / 3000 - 1 / 3) < 0.03


def test_hus_drops_unconfident_arrivals_and_replaces_its_own_class_without_a_coin():
    arrivals = [(0, 0.9), (1, 0.5), (0, 0.95), (0, 0.99), (1, 0.9)]
    for seed in range(50):
        policy, slots = offers("hus", 2, 2, arrivals, seed, threshold=0.8)
        # 0.5 < 0.8: dropped though there is room; the third 0 is of the largest class: always
        # replaces one of its own (PBRS would store it with probability 2 / 3); the 1 replaces a 0
        assert slots[0] == 0 and slots[1] is None and slots[2] == 1 and slots[3] in (0, 1) and slots[4] in (0, 1)
        assert policy.slots_.counts().tolist() == [1, 1]


def test_hus_paper_threshold_and_a_validated_one():
    assert create_policy("hus", 5).start(10).threshold_ == 0.99
    assert create_policy("hus", 5).start(100).threshold_ == 0.66
    assert create_policy("hus", 5).start(1000).threshold_ == 0.33
    # validation: class 0 correct at confidences 0.97, 0.93; class 1 correct at 0.85, 0.75 (and a
    # wrong one at 0.99). The largest grid threshold letting half of each class's correct ones
    # through: 0.8 (class 1: 0.85 passes, 1 of 2); 0.9 would starve class 1.
    probs = np.array([[0.97, 0.03], [0.93, 0.07], [0.15, 0.85], [0.25, 0.75], [0.99, 0.01]])
    labels = np.array([0, 0, 1, 1, 1])
    assert create_policy("hus_validated", 5).fit_validation(probs, labels).threshold_ == 0.8
    unsure = np.array([[0.45, 0.3, 0.25], [0.3, 0.4, 0.3]])  # no class half-passes even 0.5: offer all
    assert create_policy("hus_validated", 5).fit_validation(unsure, np.array([0, 1])).threshold_ == 0.0
    with pytest.raises(ValueError, match="call fit_validation"):
        create_policy("hus_validated", 5).start(2).offer(0, 0.9)


def h(age, u, capacity, n_classes):
    return 1 / (1 + math.exp(-age / capacity)) + u / math.log(n_classes)


def test_cstu_on_a_hand_computed_stream():
    # N = 3, C = 2 (quota 1.5). Arrival n is stored with born = n; at arrival n a stored sample's age is n - born.
    policy, slots = offers("cstu", 3, 2, [(0, 0.6), (0, 0.1), (1, 0.2), (1, 0.05), (0, 0.69), (1, 0.01)])
    assert slots[:3] == [0, 1, 2]  # room, and no class at its quota yet
    # arrival 4 (class 1, one stored < 1.5, store full): the highest H among the largest class (0):
    # slot 0 (age 3, U 0.6) beats slot 1 (age 2, U 0.1), and exceeds the arrival's own H -> replaced
    assert h(3, 0.6, 3, 2) > h(2, 0.1, 3, 2) and h(3, 0.6, 3, 2) > h(0, 0.05, 3, 2)
    assert slots[3] == 0
    # arrival 5 (class 0, one stored < 1.5): largest class is now 1 (slots 0 and 2); its worst H,
    # slot 2 (age 2, U 0.2), is below the uncertain arrival's own H -> dropped
    assert max(h(1, 0.05, 3, 2), h(2, 0.2, 3, 2)) < h(0, 0.69, 3, 2)
    assert slots[4] is None
    # arrival 6 (class 1, two stored >= 1.5): within class 1 only; slot 2 (age 3, U 0.2) is the worst
    assert h(3, 0.2, 3, 2) > h(2, 0.05, 3, 2) > h(0, 0.01, 3, 2)
    assert slots[5] == 2
    assert policy.slots_.counts().tolist() == [1, 2]


def test_label_free_policies_read_the_prediction_and_round_trip_their_state():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(4, 0.3), 3000)
    for name, params in [("pbrs", {}), ("hus", {"threshold": 0.6}), ("cstu", {})]:
        a = create_policy(name, 40, 5, **params).start(4)
        cls = type(a)
        scores = cls.score_from_probs(probs) if a.needs_scores else [None] * len(probs)
        for i in range(1500):
            a.offer(int(probs[i].argmax()), scores[i])
        b = create_policy(name, 40, 5, **params).set_state(json.loads(a.dumps()))
        for i in range(1500, 3000):
            assert a.offer(int(probs[i].argmax()), scores[i]) == b.offer(int(probs[i].argmax()), scores[i])
        kept = fill_store(name, 40, probs=probs, seed=5, params=params)
        assert len(kept) == 40 and np.bincount(probs[kept].argmax(1), minlength=4).min() >= 9


def test_bad_input_to_the_label_free_policies():
    with pytest.raises(ValueError, match=r"hus: threshold must be a confidence in \(0, 1\), got 1.5"):
        create_policy("hus", 5, threshold=1.5).start(2)
    with pytest.raises(ValueError, match="hus: bad parameters"):
        create_policy("hus", 5, treshold=0.5)
    with pytest.raises(ValueError, match="pbrs balances the model's predicted classes: give probs"):
        fill_store("pbrs", 5, scores=np.ones(4))
    with pytest.raises(ValueError, match="cstu needs the entropy of each arrival"):
        fill_store("cstu", 5, labels=np.zeros(4, int))
    with pytest.raises(ValueError, match="finite"):
        fill_store("cstu", 5, probs=np.full((4, 2), np.nan))


def test_trust_balanced_with_a_random_victim_is_pbrs_draw_for_draw():
    # the ablation compares against pbrs where a grid lacks trust_balanced:within=random
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(5, 0.3), size=3000)
    probs[:, 0] += 0.5 * rng.random(3000)  # a long tail of predicted classes
    probs /= probs.sum(1, keepdims=True)
    for seed in range(3):
        ours = fill_store("trust_balanced", 60, scores=probs.max(1), probs=probs, seed=seed, params={"within": "random"})
        assert np.array_equal(ours, fill_store("pbrs", 60, probs=probs, seed=seed))


def test_trust_balanced_quota_rule_on_a_hand_computed_stream():
    # M = 4, two groups seen, share 4 // 2 = 2. Stream [0, 0, 0, 1] fills the store {0: 3, 1: 1}.
    # A 1 arrives: group 1 holds 1 < 2 and is not the largest, so under either rule it replaces a
    # member of the largest group (0) for sure: {0: 2, 1: 2}.
    for rule in ("largest", "quota"):
        policy, slots = offers("trust_balanced", 4, 2, [(0, 1.0)] * 3 + [(1, 1.0)] * 2, within="random", full=rule)
        assert slots[-1] is not None and policy.slots_.counts().tolist() == [2, 2]
    # A group below the largest but at its share is where the rules differ: M = 6, three groups, share 2.
    # Fill {0: 3, 1: 2, 2: 1}: a 1 holds its share -> "quota" flips m_1 / n_1 = 2 / 3 (kept about
    # 2 / 3 of the time); "largest": 1 is not the largest group, so it always enters.
    stream = [(0, 1.0)] * 3 + [(1, 1.0)] * 2 + [(2, 1.0), (1, 1.0)]
    kept = {rule: sum(offers("trust_balanced", 6, 3, stream, seed, within="random", full=rule)[1][-1] is not None
                      for seed in range(3000)) / 3000 for rule in ("largest", "quota")}
    assert kept["largest"] == 1.0
    assert abs(kept["quota"] - 2 / 3) < 0.03  # binomial sd 0.0086


def test_where_each_admission_rule_leaves_a_labelled_store():
    # the design question behind ``full``: with the stored samples' labels and a weak model (35% of
    # the predictions right), "largest" lets nearly every arrival in, so the store drifts to the
    # stream's end; "quota" helps on this synthetic stream, whose mistakes are uniform, but not on
    # real ones (RESULTS.md); "reservoir" keeps about a uniform sample's 20% from the last fifth
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 5000)
    pred = np.where(rng.random(5000) < 0.35, y, rng.integers(0, 7, 5000))
    probs = np.full((5000, 7), 0.05)
    probs[np.arange(5000), pred] = 0.7
    late = {}
    for rule in ("largest", "quota", "reservoir"):
        kept = fill_store("trust_balanced", 500, probs=probs, scores=probs.max(1), store_labels=y,
                          params={"within": "random", "labelled_store": True, "full": rule})
        assert len(kept) == 500 and np.bincount(y[kept], minlength=7).min() >= 65  # balanced by true class
        late[rule] = float(np.mean(kept >= 4000))
    assert late["largest"] > 0.6 and late["quota"] < 0.4 and 0.15 < late["reservoir"] < 0.25


def test_trust_balanced_rejects_an_unknown_full_rule():
    with pytest.raises(ValueError, match=r"trust_balanced: full must be one of \('largest', 'quota', 'reservoir'\), got 'sticky'"):
        create_policy("trust_balanced", 5, full="sticky").start(2)


def test_trust_balanced_reservoir_admission_on_a_hand_computed_stream():
    # M = 4, two groups seen: share 2. [0, 0, 0, 1] fills the store. Another 1 is group 1's second
    # arrival: share / i = 2 / 2 = 1, so it always enters, in place of a member of the largest
    # class (0): {0: 2, 1: 2}. A 0 instead is group 0's fourth arrival: it enters with
    # probability 2 / 4, again in place of a 0.
    for seed in range(20):
        policy, slots = offers("trust_balanced", 4, 2, [(0, 1.0)] * 3 + [(1, 1.0)] * 2, seed, within="random",
                               full="reservoir")
        assert slots[-1] is not None and policy.slots_.counts().tolist() == [2, 2]
    kept = sum(offers("trust_balanced", 4, 2, [(0, 1.0)] * 3 + [(1, 1.0), (0, 1.0)], seed, within="random",
                      full="reservoir")[1][-1] is not None for seed in range(3000))
    assert abs(kept / 3000 - 0.5) < 0.03  # binomial sd 0.0091


def test_trust_balanced_uncertain_keeps_the_less_trusted_of_two_on_a_hand_computed_stream():
    # M = 2, one group: trusts 0.2 and 0.8 fill the store; a third arrival of the group is its
    # third: share / i = 2 / 3 with full="reservoir". When it enters, the tournament of the two
    # (distinct) members always sends the 0.8 one away, so the 0.2 one is never replaced.
    for seed in range(200):
        policy, slots = offers("trust_balanced", 2, 1, [(0, 0.2), (0, 0.8), (0, 0.5)], seed, within="uncertain",
                               full="reservoir")
        assert slots[:2] == [0, 1] and slots[2] in (None, 1)
        assert policy.trust_[0] == 0.2


def test_trust_balanced_uncertain_evicts_by_trust_rank_as_the_tournament_says():
    # four members with trusts 0.1 < 0.2 < 0.3 < 0.4; the k-th least trusted (k = 0..3) leaves with
    # probability 2k / (4 * 3): 0, 1/6, 1/3, 1/2
    left = np.zeros(4)
    for seed in range(3000):
        policy = create_policy("trust_balanced", 4, seed, within="uncertain").start(1)
        for t in (0.1, 0.2, 0.3, 0.4):
            policy.offer(0, t)
        left[policy._more_trusted_of_two(0)] += 1
    assert np.allclose(left / 3000, [0, 1 / 6, 1 / 3, 1 / 2], atol=0.03)  # binomial sd <= 0.0091
