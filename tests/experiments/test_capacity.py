"""The storage protocol's capacity mode: every policy stores at most M of the stream, trains for
the same number of steps, class-aware policies say where their classes came from; bad input."""

import numpy as np
import pytest

from edgesieve.experiments.capacity import CAPACITY_POLICIES, run_capacity_once
from edgesieve.experiments.protocol import RunContext
from edgesieve.experiments.training import train_classifier
from tests.experiments.test_protocol import TinyNet, cfg, tiny_bundle


def test_every_policy_stores_at_most_m_and_trains_the_same_steps():
    ctx = RunContext(tiny_bundle(n=600), TinyNet, cfg(runs=1, stream="imbalanced:ratio=5"), progress=False)
    out = run_capacity_once(ctx, 0, 0.25)
    sizes = out["sizes"]
    assert sizes["capacity"] == round(0.25 * sizes["d3"]) and sizes["class_source"] == "label"
    assert sizes["steps"] == 1 * int(np.ceil((sizes["d1"] + sizes["capacity"]) / 32))
    for policy in CAPACITY_POLICIES:
        assert 0 < out[policy]["stored"] <= sizes["capacity"], policy
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
    ({"capacity": 0.1, "policies": ("lru",)}, "unknown capacity policies ['lru']; available: drip"),
])
def test_bad_input_is_refused_before_training(kwargs, words):
    ctx = RunContext(tiny_bundle(), TinyNet, cfg(runs=1), progress=False)
    with pytest.raises(ValueError) as err:
        run_capacity_once(ctx, 0, **kwargs)
    assert words in str(err.value)
