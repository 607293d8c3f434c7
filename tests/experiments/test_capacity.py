"""The storage protocol's capacity mode: every policy stores at most M of the stream, trains for
the same number of steps, class-aware policies say where their classes came from; bad input."""

import numpy as np
import pytest

from edgesieve.experiments.capacity import capacity_policies, parse_policy, run_capacity_once
from edgesieve.experiments.protocol import RunContext
from edgesieve.experiments.training import train_classifier
from tests.experiments.test_protocol import TinyNet, cfg, tiny_bundle


def test_every_policy_stores_at_most_m_and_trains_the_same_steps():
    ctx = RunContext(tiny_bundle(n=600), TinyNet, cfg(runs=1, stream="imbalanced:ratio=5"), progress=False)
    methods = capacity_policies() + ("trust_balanced:trust=agreement", "trust_balanced:labelled_store=true,within=random",
                                     "hus:threshold=0.4")
    out = run_capacity_once(ctx, 0, 0.25, methods)
    sizes = out["sizes"]
    assert sizes["capacity"] == round(0.25 * sizes["d3"]) and sizes["class_source"] == "label"
    assert -1 <= sizes["predicted_class_ari"] <= 1 and 0 <= sizes["factory_accuracy_on_stream"] <= 1
    assert sizes["steps"] == 1 * int(np.ceil((sizes["d1"] + sizes["capacity"]) / 32))
    for policy in methods:
        # HUS at the paper's 0.99 may drop every arrival of a tiny, unsure model: a store may be empty
        assert (0 if policy == "hus" else 1) <= out[policy]["stored"] <= sizes["capacity"], policy
        assert 0 <= out[policy]["test_accuracy"] <= 1
    assert out["random"]["stored"] == out["drip"]["stored"]  # random at DRIP's count
    cb = np.array(out["class_balanced"]["class_counts"])
    assert cb.max() - cb.min() <= max(1, np.ptp(out["reservoir"]["class_counts"]))
    predicted = run_capacity_once(ctx, 0, 0.25, ("reservoir", "class_balanced"), class_source="predicted")
    assert predicted["sizes"]["class_source"] == "predicted"


def test_training_for_a_fixed_number_of_steps():
    import torch

    from tests.experiments.test_protocol import TinyNet as Net

    b = tiny_bundle()
    x, y = torch.from_numpy(b.x[:50]), torch.from_numpy(b.y[:50])
    calls = []
    model = Net()
    model.register_forward_hook(lambda *a: calls.append(1))
    train_classifier(model, x, y, batch_size=16, steps=7, progress=False)
    assert len(calls) == 7  # 7 steps: more than one pass over 50 samples in batches of 16 (3 full + 1 of 2)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        train_classifier(Net(), x, y, steps=0, progress=False)


@pytest.mark.parametrize("kwargs, words", [
    ({"capacity": 0.0}, "capacity must be a fraction of the stream in (0, 1)"),
    ({"capacity": 0.1, "class_source": "oracle"}, "class_source must be one of"),
    ({"capacity": 0.1, "policies": ("lru",)}, "unknown capacity policy 'lru'; available: drip"),
    ({"capacity": 0.1, "policies": ("pbrs:threshold=0.5",)}, "pbrs: bad parameters ['threshold']"),
])
def test_bad_input_is_refused_before_training(kwargs, words):
    ctx = RunContext(tiny_bundle(), TinyNet, cfg(runs=1), progress=False)
    with pytest.raises(ValueError) as err:
        run_capacity_once(ctx, 0, **kwargs)
    assert words in str(err.value)


@pytest.mark.parametrize("method, words", [
    ("random:x=1", "random takes no parameters"),
    ("trust_balanced:trust=oracle", "trust must be one of ('confidence', 'agreement')"),
    ("trust_balanced:within=best", "within must be one of"),
    ("trust_balanced:within", "parameters are distinct key=value pairs"),
    ("hus:threshold=1.5", "threshold must be a confidence in (0, 1)"),
])
def test_bad_method_strings_name_the_problem(method, words):
    with pytest.raises(ValueError) as err:
        parse_policy(method)
    assert words in str(err.value)


def test_label_free_policies_never_read_the_stream_labels():
    """Scrambling D3's labels changes nothing a label-free policy stores (only training sees
    the labels of what was stored); a label-using policy's store does change."""
    import torch

    from edgesieve.experiments import capacity

    ctx = RunContext(tiny_bundle(n=600), TinyNet, cfg(runs=1, stream="imbalanced:ratio=5"), progress=False)
    r = capacity.prepare_run(ctx, 0)
    baseline = ctx.fit(r.x1, r.y1, r.seed, "baseline")
    outputs = capacity.FactoryOutputs(baseline, {"d1": r.x1, "d2": ctx.x[r.d2], "d3": r.x3})
    scrambled = type(r)(**{**r.__dict__, "y3": torch.roll(r.y3, 1)})
    for method in ("pbrs", "hus", "hus_validated", "cstu", "trust_balanced", "trust_balanced:trust=agreement"):
        a = capacity.stored_positions(method, 30, r, outputs, ctx, r.y3.numpy(), None)
        b = capacity.stored_positions(method, 30, scrambled, outputs, ctx, scrambled.y3.numpy(), None)
        assert np.array_equal(a, b), method
    a = capacity.stored_positions("class_balanced", 30, r, outputs, ctx, r.y3.numpy(), None)
    b = capacity.stored_positions("class_balanced", 30, scrambled, outputs, ctx, scrambled.y3.numpy(), None)
    assert not np.array_equal(a, b)


def test_adjusted_rand_index_matches_a_brute_force_count_of_pairs():
    from itertools import combinations

    from edgesieve.experiments.statistics import adjusted_rand_index

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, 30), rng.integers(0, 4, 30)
    same_a = [a[i] == a[j] for i, j in combinations(range(30), 2)]
    same_b = [b[i] == b[j] for i, j in combinations(range(30), 2)]
    index = sum(x and y for x, y in zip(same_a, same_b))
    expected = sum(same_a) * sum(same_b) / len(same_a)
    brute = (index - expected) / ((sum(same_a) + sum(same_b)) / 2 - expected)
    assert abs(adjusted_rand_index(a, b) - brute) < 1e-12
