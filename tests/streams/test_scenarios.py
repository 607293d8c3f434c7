"""Each stream scenario is held to its definition (SPEC section 5) on small synthetic pools:
determinism, exact observed figures, ordering, repeats, noise, drift, composition, bad specs."""

import numpy as np
import pytest

from edgesieve.data.bundle import DataBundle
from edgesieve.streams import StreamSpecError, list_streams, make_stream, parse_streams


def pool(n_per_class=200, classes=5, shape=(1, 6, 6), sessions=None):
    y = np.repeat(np.arange(classes), n_per_class)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(y),) + shape).astype(np.float32) + y.reshape((-1,) + (1,) * len(shape))
    b = DataBundle("synthetic", x, y, x[:10], y[:10], tuple(str(c) for c in range(classes)),
                   sessions=None if sessions is None else np.asarray(sessions))
    return b


def test_the_built_in_scenarios_are_registered():
    assert {"iid", "imbalanced", "dirichlet", "sessions", "duplicates", "label-noise", "drift"} <= set(list_streams())


@pytest.mark.parametrize("spec", ["iid", "imbalanced:ratio=10", "dirichlet:alpha=0.1,sessions=5", "duplicates:rate=0.3",
                                  "label-noise:rate=0.2,kind=pairflip", "drift:noise=0.5",
                                  "imbalanced:ratio=10+label-noise:rate=0.2"])
def test_a_stream_is_deterministic_given_its_seed(spec):
    b = pool()
    one, again, other = make_stream(spec, b, 3), make_stream(spec, b, 3), make_stream(spec, b, 4)
    assert np.array_equal(one.source, again.source) and np.array_equal(one.y, again.y)
    assert np.array_equal(one.samples(b.x), again.samples(b.x))
    assert not (np.array_equal(one.source, other.source) and np.array_equal(one.y, other.y))


def test_iid_is_a_permutation_of_the_pool_or_of_the_given_indices():
    b = pool()
    s = make_stream("iid", b, 0)
    assert sorted(s.source) == list(range(len(b.y))) and np.array_equal(s.y, b.y[s.source])
    part = np.arange(100, 300)
    assert sorted(make_stream("iid", b, 0, indices=part).source) == list(part)


@pytest.mark.parametrize("ratio", [1.0, 10.0, 100.0])
def test_imbalanced_observes_exactly_the_requested_ratio_with_an_exponential_profile(ratio):
    b = pool(n_per_class=400, classes=5)
    s = make_stream(f"imbalanced:ratio={ratio:g}", b, 1)
    counts = np.bincount(s.y_clean, minlength=5)
    assert counts.max() / counts.min() == ratio
    ranked = np.sort(counts)[::-1]
    expected = ranked[0] * ratio ** (-np.arange(5) / 4)
    assert np.all(np.abs(ranked - expected) <= 1)  # the profile, up to rounding
    assert len(set(np.unique(s.source))) == len(s)  # no arrival twice


def test_imbalanced_ranks_the_classes_differently_by_seed_and_refuses_a_too_small_pool():
    b = pool(n_per_class=400, classes=5)
    rare = {int(np.argmin(np.bincount(make_stream("imbalanced:ratio=10", b, seed).y_clean, minlength=5))) for seed in range(12)}
    assert len(rare) > 1
    with pytest.raises(StreamSpecError, match="imbalanced.*ratio=1000"):
        make_stream("imbalanced:ratio=1000", b, 0)


def test_dirichlet_makes_k_sessions_of_equal_length_that_use_every_arrival_once_and_are_skewed():
    b = pool(n_per_class=200, classes=5)
    s = make_stream("dirichlet:alpha=0.1,sessions=8", b, 2)
    assert sorted(s.source) == list(range(len(b.y)))
    lengths = np.bincount(s.sessions)
    assert len(lengths) == 8 and lengths.max() - lengths.min() <= 1
    assert np.all(np.diff(s.sessions) >= 0)  # session after session
    top_share = np.mean([np.bincount(s.y_clean[s.sessions == k]).max() / lengths[k] for k in range(8)])
    flat = make_stream("dirichlet:alpha=100,sessions=8", b, 2)
    flat_share = np.mean([np.bincount(flat.y_clean[flat.sessions == k]).max() / np.sum(flat.sessions == k) for k in range(8)])
    assert top_share > 0.5 > flat_share


def test_sessions_arrive_one_after_another_and_need_a_data_set_with_sessions():
    sessions = np.tile(np.arange(4), 250)[:1000]
    b = pool(n_per_class=200, classes=5, sessions=sessions)
    s = make_stream("sessions", b, 0)
    assert sorted(s.source) == list(range(1000))
    original = sessions[s.source]
    changes = np.flatnonzero(np.diff(original)) + 1
    assert len(changes) == 3  # each session one contiguous block
    assert np.array_equal(np.diff(s.sessions) >= 0, np.ones(999, bool))
    with pytest.raises(StreamSpecError, match="'sessions'.*no sessions"):
        make_stream("sessions", pool(), 0)


def test_duplicates_repeat_earlier_arrivals_at_the_requested_rate_lightly_augmented():
    b = pool(n_per_class=100, classes=5)
    s = make_stream("duplicates:rate=0.4", b, 5)
    assert len(s) == len(b.y) and s.describe()["duplicate_fraction"] == 0.4
    assert not s.duplicate[0]
    first_seen = {}
    for i, src in enumerate(s.source):  # a brute-force check: every repeat's original came before it
        if s.duplicate[i]:
            assert src in first_seen and first_seen[src] < i
        else:
            first_seen.setdefault(src, i)
    x = s.samples(b.x)
    rep = np.flatnonzero(s.duplicate)
    assert np.array_equal(x[~s.duplicate], b.x[s.source[~s.duplicate]])  # originals untouched
    diff = np.abs(x[rep] - b.x[s.source[rep]]).mean()
    assert 0 < diff < 2 * b.x.std()
    assert np.array_equal(s.y[rep], b.y[s.source[rep]])  # a repeat keeps its label


@pytest.mark.parametrize("kind", ["symmetric", "pairflip"])
def test_label_noise_makes_exactly_the_requested_fraction_wrong_and_keeps_the_clean_labels(kind):
    b = pool(n_per_class=100, classes=5)
    s = make_stream(f"label-noise:rate=0.4,kind={kind}", b, 0)
    wrong = s.y != s.y_clean
    assert wrong.mean() == 0.4
    assert np.array_equal(s.y_clean, b.y[s.source])
    if kind == "pairflip":
        assert np.array_equal(s.y[wrong], (s.y_clean[wrong] + 1) % 5)
    else:
        assert len(np.unique(s.y[wrong] - s.y_clean[wrong])) > 2  # spread over the other classes


def test_drift_adds_noise_that_rises_along_the_stream():
    b = pool(n_per_class=200, classes=5)
    s = make_stream("drift:noise=1", b, 0)
    gap = (s.samples(b.x) - b.x[s.source]).reshape(len(s), -1).std(axis=1)
    assert gap[0] < 1e-6
    assert gap[-100:].mean() > 0.8 * b.x.std() > 4 * gap[:100].mean()


def test_scenarios_compose_left_to_right():
    b = pool(n_per_class=400, classes=5)
    info = make_stream("imbalanced:ratio=10+label-noise:rate=0.2+duplicates:rate=0.25", b, 0).describe()
    assert info["duplicate_fraction"] == pytest.approx(0.25, abs=1 / info["n"])
    assert 0.15 < info["noisy_label_fraction"] < 0.25  # repeats copy the noisy or clean label of their original


@pytest.mark.parametrize("spec, words", [
    ("nope", "unknown stream scenario 'nope'; available: dirichlet"),
    ("imbalanced", "'imbalanced' needs ratio="),
    ("imbalanced:ratio=0.5", "'imbalanced': ratio must be >= 1"),
    ("imbalanced:ration=10", "'imbalanced' has no parameter 'ration' (parameters: ratio)"),
    ("dirichlet:alpha=0", "'dirichlet': alpha must be > 0"),
    ("dirichlet:alpha=-1", "'dirichlet': alpha must be > 0"),
    ("label-noise:rate=1", "'label-noise': rate must be in [0, 1)"),
    ("label-noise:rate=0.2,kind=odd", "'label-noise': kind must be one of symmetric, pairflip"),
    ("duplicates:rate=-0.1", "'duplicates': rate must be in [0, 1)"),
    ("duplicates:rate=abc", "'duplicates': rate='abc' is not a valid value"),
    ("iid+", "has an empty part"),
])
def test_bad_specs_name_the_scenario_and_the_parameter(spec, words):
    with pytest.raises(StreamSpecError) as err:
        parse_streams(spec)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_the_cli_describes_a_stream_and_refuses_bad_specs_with_exit_2(capsys, monkeypatch):
    import json

    from edgesieve.cli.main import main
    from edgesieve.data import registry

    monkeypatch.setattr(registry, "load_dataset", lambda name: pool(n_per_class=300, classes=5))
    assert main(["streams", "describe", "imbalanced:ratio=10+label-noise:rate=0.2", "--dataset", "x", "--seed", "1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["imbalance_ratio"] == 10 and info["noisy_label_fraction"] == pytest.approx(0.2, abs=1e-3)
    assert set(info) >= {"n", "class_counts", "imbalance_ratio", "noisy_label_fraction", "duplicate_fraction", "sessions"}
    assert main(["streams", "describe", "dirichlet:alpha=0", "--dataset", "x"]) == 2
    assert "'dirichlet': alpha must be > 0" in capsys.readouterr().err
    assert main(["streams"]) == 0
    assert "label-noise" in capsys.readouterr().out
