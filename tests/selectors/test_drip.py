import json

import pytest
import torch

from edgesieve import (
    CalibrationWarning,
    DripSelector,
    ModelMismatchError,
    ModelMismatchWarning,
    NotCalibratedError,
    StateFileError,
    load_selector,
)
from edgesieve.selectors import REASONS
from edgesieve.selectors.windows import min_std_window, window_size


@pytest.fixture
def calib():
    torch.manual_seed(3)
    return torch.randn(400, 1, 12, 12), torch.randint(0, 5, (400,))


def test_thresholds_follow_spec(conv2d_model, calib):
    x, y = calib
    sel = DripSelector(conv2d_model, dpw=0.25).calibrate(x)
    res = sel.cam_.explain(x, return_heatmaps=False)
    for c in range(5):
        s = torch.sort(res.scores[res.predicted == c]).values
        if s.numel() >= 2 and window_size(0.25, s.numel()) >= 2:
            win = min_std_window(s, window_size(0.25, s.numel()))
            assert sel.thresholds_[c] == (win.lower, win.upper)
        else:
            assert c not in sel.thresholds_ and c in sel.uncalibrated_classes_


def test_decision_rule_inclusive_bounds(conv2d_model, calib):
    x, _ = calib
    sel = DripSelector(conv2d_model).calibrate(x)
    c, (lo, hi) = next(iter(sel.thresholds_.items()))
    scores = torch.tensor([lo, hi, (lo + hi) / 2, lo - 1e-3, hi + 1e-3])
    d = sel._decide_from_scores(scores, torch.full((5,), c))
    assert d.keep.tolist() == [False, False, False, True, True]
    assert d.reasons()[:4] == ["inside_window", "inside_window", "inside_window", "outside_window"]


def test_discard_rate_near_dpw_on_calibration_distribution(conv2d_model):
    torch.manual_seed(0)
    x = torch.randn(3000, 1, 12, 12)
    sel = DripSelector(conv2d_model, dpw=0.3).calibrate(x[:1500])
    d = sel.decide(x[1500:])
    assert 0.2 < 1 - d.keep_rate < 0.4
    assert sel.decide(x[:1500]).keep_rate == pytest.approx(0.7, abs=0.01)


def test_group_by_label(conv2d_model, calib):
    x, y = calib
    with pytest.raises(ValueError, match="needs the true labels"):
        DripSelector(conv2d_model, group_by="label").calibrate(x)
    sel = DripSelector(conv2d_model, group_by="label").calibrate(x, y)
    assert sorted(sel.thresholds_) == list(range(5))
    assert [r["n"] for r in sel.calibration_report_] == torch.bincount(y, minlength=5).tolist()


def test_class_without_thresholds_is_kept_and_reported(conv2d_model):
    x = torch.randn(60, 1, 12, 12)
    y = torch.zeros(60, dtype=torch.long)
    y[0] = 1  # one sample only: no thresholds for class 1; classes 2-4 have none at all
    with pytest.warns(CalibrationWarning, match=r"classes \[1, 2, 3, 4\] got no thresholds"):
        sel = DripSelector(conv2d_model, group_by="label").calibrate(x, y)
    assert sel.uncalibrated_classes_ == [1, 2, 3, 4]
    assert "1 calibration point(s)" in sel.calibration_report_[1]["status"]
    assert "points kept" in sel.summary()
    d = sel._decide_from_scores(torch.zeros(4), torch.tensor([1, 2, 3, 4]))
    assert d.keep.all() and set(d.reasons()) == {"uncalibrated_class"}


def test_decide_outputs(conv2d_model, calib):
    x, _ = calib
    sel = DripSelector(conv2d_model, batch_size=7).calibrate(x)
    d = sel.decide(x[:20])
    assert d.keep.dtype == torch.bool and d.score.dtype == torch.float32 and d.predicted.dtype == torch.int64
    assert len(d) == 20 and all(r in REASONS for r in d.reasons())
    # chunking does not change decisions
    whole = DripSelector(conv2d_model, batch_size=256).calibrate(x).decide(x[:20])
    assert torch.equal(whole.keep, d.keep)


@pytest.mark.parametrize("head", ["gap_linear", "flatten_mlp"])
def test_decide_hands_out_ordinary_tensors(conv2d_model, two_head_model, calib, head):
    """The hot path runs the forward under inference_mode; nothing of it reaches the caller as an
    inference tensor (those refuse in-place updates and autograd)."""
    model, x = (conv2d_model, calib[0]) if head == "gap_linear" else (two_head_model, torch.randn(60, 1, 32))
    sel = DripSelector(model).calibrate(x)
    d = sel.decide(x[:5])
    result = sel.cam_.explain(x[:5], return_heatmaps=False)
    for t in (d.keep, d.score, d.predicted, d.reason, d.probs, result.logits, result.scores):
        assert not t.is_inference()
    d.score.add_(1.0), d.probs.mul_(2.0), result.logits.sub_(1.0)
    w = torch.ones(5, requires_grad=True)
    (d.probs[:, 0] * w).sum().backward()  # usable in autograd
    assert w.grad is not None


def test_decide_before_calibrate(conv2d_model):
    with pytest.raises(NotCalibratedError, match="call .calibrate"):
        DripSelector(conv2d_model).decide(torch.randn(2, 1, 12, 12))


def test_decide_checks_sample_shape(conv2d_model, calib):
    sel = DripSelector(conv2d_model).calibrate(calib[0])
    with pytest.raises(ValueError, match=r"sample shape \(1, 10, 10\) but \(1, 12, 12\) was expected"):
        sel.decide(torch.randn(2, 1, 10, 10))


@pytest.mark.parametrize("kwargs", [{"dpw": 0}, {"dpw": 1.0}, {"dpw": 25}, {"group_by": "true"}, {"batch_size": 0}, {"normalize": "z"},
                                    {"agreement_splits": -1}, {"agreement_splits": True}, {"agreement_splits": 2.5}])
def test_bad_params(conv2d_model, kwargs):
    with pytest.raises(ValueError):
        DripSelector(conv2d_model, **kwargs)


def test_save_load_round_trip(conv2d_model, calib, tmp_path):
    x, _ = calib
    sel = DripSelector(conv2d_model, conv2d_model.features, dpw=0.2, normalize="max").calibrate(x)
    path = sel.save(tmp_path / "drip.json")
    doc = json.loads(path.read_text())
    assert doc["params"]["layer"] == "features" and doc["params"]["normalize"] == "max"
    assert doc["state"]["cam"]["upsample"] is True and "fingerprint" in doc["model"]
    for loaded in (DripSelector.load(path, conv2d_model), load_selector(path, conv2d_model)):
        assert loaded.thresholds_ == sel.thresholds_
        assert torch.equal(loaded.decide(x).keep, sel.decide(x).keep)


def test_load_against_a_different_model(conv2d_model, calib, tmp_path):
    path = DripSelector(conv2d_model).calibrate(calib[0]).save(tmp_path / "drip.json")
    with torch.no_grad():
        conv2d_model.classifier.bias.add_(0.1)
    with pytest.raises(ModelMismatchError, match="calibrated on a different model"):
        DripSelector.load(path, conv2d_model)
    with pytest.warns(ModelMismatchWarning):
        DripSelector.load(path, conv2d_model, strict=False)
    with pytest.raises(TypeError, match="needs the model"):
        DripSelector.load(path)


def _corrupt(tmp_path, text):
    p = tmp_path / "state.json"
    p.write_text(text)
    return p


def test_corrupt_state_files(conv2d_model, calib, tmp_path):
    good = DripSelector(conv2d_model).calibrate(calib[0]).save(tmp_path / "good.json").read_text()
    doc = json.loads(good)
    cases = {
        good[: len(good) // 2]: "truncated or corrupt JSON",
        "": "truncated or corrupt JSON",
        "[1, 2]": "not an edgesieve selector state file",
        json.dumps({**doc, "format_version": 99}): "upgrade edgesieve",
        json.dumps({**doc, "selector": "random"}): "holds a 'random' selector, not 'drip'",
        json.dumps({**doc, "state": {**doc["state"], "thresholds": {"0": [2.0, 1.0]}}}): "L_lower 2.0 > L_upper 1.0",
        json.dumps({**doc, "state": {**doc["state"], "thresholds": {"0": ["a", 1.0]}}}): "must be a finite number",
        json.dumps({**doc, "state": {**doc["state"], "thresholds": {"9": [0.0, 1.0]}}}): "bad thresholds entry",
        good.replace('"n_classes": 5', '"n_classes": NaN'): "truncated or corrupt JSON",
        json.dumps({**doc, "params": {**doc["params"], "dpw": 7}}): "dpw must be a fraction",
        json.dumps({k: v for k, v in doc.items() if k != "state"}): "field 'state' is missing",
        json.dumps({**doc, "state": {**doc["state"], "calibration_report": [
            {**doc["state"]["calibration_report"][0], "split_half_agreement": 1.5}]}}): "bad calibration report row",
        json.dumps({**doc, "state": {**doc["state"], "calibration_report": [
            {**doc["state"]["calibration_report"][0], "split_half_agreement": "high"}]}}): "split-half agreement must be a finite number",
    }
    for text, message in cases.items():
        with pytest.raises(StateFileError, match=message):
            DripSelector.load(_corrupt(tmp_path, text), conv2d_model)
    with pytest.raises(StateFileError, match="does not exist"):
        DripSelector.load(tmp_path / "missing.json", conv2d_model)
    (tmp_path / "binary.json").write_bytes(b"\x80\x81\xff")
    with pytest.raises(StateFileError):
        DripSelector.load(tmp_path / "binary.json", conv2d_model)


def test_save_is_atomic(conv2d_model, calib, tmp_path, monkeypatch):
    sel = DripSelector(conv2d_model).calibrate(calib[0])
    path = sel.save(tmp_path / "drip.json")
    before = path.read_text()

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("edgesieve.state.files.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        sel.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["drip.json"]  # no temporary left behind


def test_explain_returns_heatmaps(conv2d_model, calib):
    sel = DripSelector(conv2d_model).calibrate(calib[0])
    res = sel.explain(calib[0][:3])
    assert res.heatmaps.shape == (3, 12, 12)
    assert torch.allclose(res.scores, sel.decide(calib[0][:3]).score)


def test_autograd_model_two_linear_head(two_head_model):
    x = torch.randn(300, 1, 32)
    sel = DripSelector(two_head_model).calibrate(x)
    assert not sel.cam_.uses_closed_form
    assert sel.decide(x[:10]).keep.shape == (10,)


def test_the_report_says_how_much_each_window_depends_on_the_calibration_sample(conv2d_model, calib, tmp_path):
    from edgesieve.selectors.windows import split_half_agreement

    x, _ = calib
    sel = DripSelector(conv2d_model, dpw=0.25, agreement_splits=40).calibrate(x)
    res = sel.cam_.explain(x, return_heatmaps=False)
    rows = [r for r in sel.calibration_report_ if "split_half_agreement" in r]
    assert rows
    for r in rows:  # each class's own scores, split by a generator seeded with its class
        s = torch.sort(res.scores[res.predicted == r["class"]]).values
        assert r["split_half_agreement"] == split_half_agreement(s, 0.25, 40, seed=r["class"])
    weighted = sum(r["split_half_agreement"] * r["n"] for r in rows) / sum(r["n"] for r in rows)
    assert sel.split_half_agreement_ == pytest.approx(weighted) and 0 < weighted <= 1
    assert "halves" in sel.summary() and f"overall {weighted:.0%}" in sel.summary()
    loaded = DripSelector.load(sel.save(tmp_path / "drip.json"), conv2d_model)
    assert loaded.split_half_agreement_ == sel.split_half_agreement_
    # not measured: no key, None, the same thresholds; measuring draws from no global random state
    torch.manual_seed(0)
    off = DripSelector(conv2d_model, dpw=0.25, agreement_splits=0).calibrate(x)
    after_off = torch.rand(1)
    torch.manual_seed(0)
    DripSelector(conv2d_model, dpw=0.25).calibrate(x)
    assert torch.equal(torch.rand(1), after_off)
    assert off.split_half_agreement_ is None and all("split_half_agreement" not in r for r in off.calibration_report_)
    assert off.thresholds_ == sel.thresholds_ and "overall" not in off.summary()
