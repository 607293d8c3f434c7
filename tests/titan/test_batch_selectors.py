import json

import pytest
import torch
from torch import nn

from edgesieve import create_selector
from edgesieve.errors import ModelMismatchError, NotCalibratedError, StateFileError
from edgesieve.reasons import REASON_CODES
from edgesieve.selectors import TitanSelector, load_selector
from edgesieve.state.files import decode_tensor, encode_tensor
from edgesieve.titan import CandidateBuffer, CoarseFilter, ShallowFeatures
from edgesieve.titan.functional import best_per_class


class Net(nn.Module):
    def __init__(self, n_classes=4):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), nn.BatchNorm1d(6), nn.ReLU(),
                                      nn.Conv1d(6, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, n_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(-1))


def round_data(n=100, seed=0, n_classes=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, 10, generator=g), torch.randint(0, n_classes, (n,), generator=g)


@pytest.mark.parametrize("name", ["titan", "rs", "is", "hl", "ll", "ce", "ocs", "camel"])
def test_decide_keeps_one_batch_with_reasons_and_weights(name):
    torch.manual_seed(0)
    model = Net()
    x, y = round_data()
    sel = create_selector(name, model=model, batch=10, buffer=30).calibrate(*round_data(40, seed=1))
    d = sel.decide(x, y)
    assert int(d.keep.sum()) == 10 and d.weight.shape == (100,)
    assert bool((d.weight[d.keep] > 0).all()) and bool((d.weight[~d.keep] == 0).all())
    reasons = d.reasons()
    assert reasons.count("batch") == 10
    if name == "titan":  # the coarse stage buffered 30 of the 100
        assert reasons.count("not_picked") == 20 and reasons.count("coarse_filtered") == 70
        assert bool(torch.isinf(d.score[d.reason == REASON_CODES["coarse_filtered"]]).all())
    else:  # the rivals pick from the whole round, as in the paper
        assert reasons.count("coarse_filtered") == 0 and bool(torch.isfinite(d.score).all())
    assert sel.stage_ms_["fine"] > 0


def test_without_labels_the_predictions_stand_in():
    torch.manual_seed(0)
    model = Net()
    x, _ = round_data()
    sel = TitanSelector(model).calibrate(x[:40])
    with torch.no_grad():
        predicted = model.eval()(x).argmax(1)
    a = TitanSelector(model).calibrate(x[:40]).decide(x)
    b = TitanSelector(model).calibrate(x[:40], predicted[:40]).decide(x, predicted)
    assert torch.equal(a.keep, b.keep)
    assert int(sel.decide(x).keep.sum()) == 10


def test_small_rounds_keep_everything_they_can():
    sel = TitanSelector(Net(), batch=10, buffer=30).calibrate(*round_data(40))
    x, y = round_data(6)
    assert int(sel.decide(x, y).keep.sum()) == 6


@pytest.mark.parametrize(("params", "match"), [
    ({"batch": 10, "buffer": 5}, "must hold at least one batch"),
    ({"batch": 0}, "batch must be a positive int"),
    ({"coarse": "deep"}, "coarse must be one of"),
    ({"diversity": "max"}, "diversity must be one of"),
    ({"class_slots": "some"}, "class_slots must be one of"),
    ({"seed": 1.5}, "seed must be an int"),
])
def test_bad_parameters_fail_at_calibrate(params, match):
    sel = TitanSelector(Net(), **params)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        sel.calibrate(*round_data(40))


def test_bad_input_to_decide():
    sel = TitanSelector(Net())
    with pytest.raises(NotCalibratedError):
        sel.decide(*round_data())
    sel.calibrate(*round_data(40))
    x, y = round_data()
    with pytest.raises(ValueError, match="sample shape"):
        sel.decide(x[:, :, :5], y)
    with pytest.raises(ValueError, match="only 4 outputs"):
        sel.decide(x, y + 4)
    with pytest.raises(ValueError, match="shape \\(100,\\)"):
        sel.decide(x, y[:50])
    x[3] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        sel.decide(x, y)


def test_a_class_never_seen_is_handled():
    sel = TitanSelector(Net()).calibrate(*round_data(40))
    x, _ = round_data()
    y = torch.zeros(100, dtype=torch.long)  # the stream shows one class only
    d = sel.decide(x, y)
    assert int(d.keep.sum()) == 10


def test_state_round_trip_and_corrupt_files(tmp_path):
    torch.manual_seed(0)
    model = Net()
    sel = TitanSelector(model).calibrate(*round_data(40))
    sel.decide(*round_data(seed=2))
    path = sel.save(tmp_path / "titan.json")
    loaded = load_selector(path, model)
    x, y = round_data(seed=3)
    assert torch.equal(sel.decide(x, y).keep, loaded.decide(x, y).keep)
    doc = json.loads(path.read_text())
    assert doc["state"]["class_stats"]["mean"]["dtype"] == "float32"
    for corrupt in (
        lambda d: d["state"]["class_stats"]["mean"].update(data="@@not base64@@"),
        lambda d: d["state"]["class_stats"]["mean"].update(shape=[4, 3]),
        lambda d: d["state"]["class_stats"]["count"].update(dtype="float32"),
        lambda d: d["state"].update(coarse_stage="drip"),
        lambda d: d["state"].pop("rng"),
    ):
        bad = json.loads(path.read_text())
        corrupt(bad)
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(StateFileError):
            load_selector(tmp_path / "bad.json", model)
    with pytest.raises(ModelMismatchError):
        load_selector(path, Net())


def test_encoded_tensors_reject_nan_and_wrong_sizes():
    doc = encode_tensor(torch.tensor([1.0, float("nan")]))
    with pytest.raises(StateFileError, match="NaN"):
        decode_tensor(doc, torch.float32)
    doc = encode_tensor(torch.zeros(3))
    doc["shape"] = [4]
    with pytest.raises(StateFileError, match="needs 16"):
        decode_tensor(doc, torch.float32)


def test_shallow_features_leave_batch_norm_statistics_alone():
    model = Net().train()
    before = model.features[1].running_mean.clone()
    ShallowFeatures(model, "features.2")(torch.randn(8, 2, 10) + 5)
    assert torch.equal(model.features[1].running_mean, before) and model.training and model.features[1].training


def test_best_per_class_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        scores = torch.randn(40, generator=g, dtype=torch.float64)
        labels = torch.randint(0, 5, (40,), generator=g)
        quotas = torch.randint(0, 6, (5,), generator=g)
        expected = set()
        for c in range(5):  # the brute-force reference
            members = [i for i in range(40) if labels[i] == c]
            expected |= set(sorted(members, key=lambda i: -scores[i].item())[: int(quotas[c])])
        assert set(best_per_class(scores, labels, quotas).tolist()) == expected


def test_proportional_class_slots_follow_the_stream_and_global_does_not():
    # class 1 is tight around its mean (low Rep/Div' scale), class 0 spread out
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1] * 50)
    x = torch.randn(100, 8, generator=g) * torch.where(y == 0, 10.0, 0.1)[:, None]
    shares = {}
    for slots in ("proportional", "global"):
        filt = CoarseFilter(lambda t: t, n_classes=2, capacity=20, class_slots=slots)
        filt.offer(x, y)
        shares[slots] = torch.bincount(filt.buffer.labels[: filt.buffer.size], minlength=2).tolist()
    assert shares["proportional"] == [10, 10]
    assert shares["global"][1] < 5


def test_buffer_compacts_when_a_class_quota_shrinks():
    buf = CandidateBuffer(4, 1)
    buf.offer(torch.zeros(4, 1), torch.arange(4), torch.zeros(4, dtype=torch.long), torch.arange(4.0))
    buf.offer(torch.ones(1, 1), torch.tensor([9]), torch.tensor([1]), torch.tensor([0.0]),
              quotas=torch.tensor([2, 1]))
    assert buf.size == 3 and sorted(buf.ids[:3].tolist()) == [2, 3, 9]


def test_rs_runs_no_forward_pass_and_picks_what_it_picked_with_one():
    """RS needs no model outputs: the round costs a random draw, not a forward over 100 samples
    (what a device running random selection pays), with the same picks as before."""
    from edgesieve.selectors.batch.rs import RandomBatchSelector

    class RSWithForward(RandomBatchSelector):
        needs_model_outputs = True

    torch.manual_seed(0)
    model = Net()
    calls = []
    handle = model.register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        cal, rounds = round_data(40, seed=1), [round_data(seed=s) for s in range(5)]
        free = RandomBatchSelector(model, batch=10).calibrate(*cal)
        calls.clear()
        free_decisions = [free.decide(x, y) for x, y in rounds] + [free.decide(rounds[0][0])]
        assert not calls  # not one forward, with or without labels
        with_forward = RSWithForward(model, batch=10).calibrate(*cal)
        for a, (x, y) in zip(free_decisions, rounds + [(rounds[0][0], None)]):
            b = with_forward.decide(x, y)
            assert torch.equal(a.keep, b.keep) and torch.equal(a.weight, b.weight) and torch.equal(a.reason, b.reason)
            assert bool((a.predicted == -1).all()) and int(a.keep.sum()) == 10
        assert calls  # the subclass did run the model
        calls.clear()
        RandomBatchSelector(model, batch=10, buffer=30, coarse="titan").calibrate(*cal).decide(*rounds[0])
        assert calls  # a coarse stage still reads the model
    finally:
        handle.remove()
