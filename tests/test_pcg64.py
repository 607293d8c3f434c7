"""edgesieve.pcg64 against numpy's own default_rng: every draw and every state equal."""

import json
import subprocess
import sys

import numpy as np
import pytest

from edgesieve.pcg64 import default_rng

SEEDS = [0, 1, 7, 2**32 - 1, 2**32, 2**40 + 5, 2**130 + 3, (7, 3), (0, 12345), [1, 2, 3, 4, 5], (2**33, 9, (1, 2))]
BOUNDS = [1, 2, 3, 10, 1000, 2**31 + 1, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64]


@pytest.mark.parametrize("seed", SEEDS, ids=str)
def test_draws_equal_numpy(seed):
    ours, reference = default_rng(seed), np.random.default_rng(seed)
    assert ours.state == reference.bit_generator.state
    for high in BOUNDS:
        for _ in range(25):  # interleaved, so the buffered 32-bit half is exercised too
            dtype = np.uint64 if high > 2**63 else np.int64
            assert ours.integers(high) == int(reference.integers(high, dtype=dtype)), high
            assert ours.random() == reference.random()
    assert ours.state == reference.bit_generator.state


def test_numpy_integers_accepted():
    assert default_rng(np.int64(5)).integers(np.int64(9)) == int(np.random.default_rng(5).integers(9))


def test_state_round_trips_through_json_and_numpy():
    ours = default_rng(3)
    ours.integers(10)  # leaves half a 64-bit draw buffered
    reference = np.random.default_rng()
    reference.bit_generator.state = json.loads(json.dumps(ours.state))
    resumed = default_rng(0)
    resumed.state = json.loads(json.dumps(reference.bit_generator.state))
    assert [resumed.integers(100) for _ in range(50)] == [int(reference.integers(100)) for _ in range(50)]


@pytest.mark.parametrize("seed", [-1, 1.5, "3", None, True])
def test_bad_seed(seed):
    with pytest.raises((TypeError, ValueError), match="seed"):
        default_rng(seed)


@pytest.mark.parametrize("high", [0, -3, 2.0, 2**64 + 1])
def test_bad_bound(high):
    with pytest.raises(ValueError, match="high"):
        default_rng(0).integers(high)


def test_bad_state():
    rng = default_rng(0)
    with pytest.raises(ValueError, match="PCG64"):
        rng.state = {"bit_generator": "MT19937"}
    good = rng.state
    with pytest.raises(ValueError, match="inc odd"):
        rng.state = {**good, "state": {"state": 1, "inc": 2}}
    assert rng.state == good  # a rejected state changes nothing


def test_device_path_does_not_import_numpy_random():
    # the point of the module: numpy.random costs a device process ~7 MB (benchmarks/results/device.md)
    code = ("import sys, edgesieve.runtime.onnx_filter, edgesieve.device.filter_loop, edgesieve.store; "
            "from edgesieve.store.policies import create_policy; "
            "p = create_policy('reservoir', 4, 0).start(1); [p.offer(0) for _ in range(20)]; "
            "print(sorted(m for m in sys.modules if m.startswith('numpy.random') or m in ('secrets', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
