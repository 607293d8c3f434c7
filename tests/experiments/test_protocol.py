import json

import numpy as np
import pytest
import torch
from torch import nn

from edgesieve.data import DataBundle
from edgesieve.experiments.protocol import (
    ProtocolConfig,
    add_label_noise,
    run_protocol,
    split_indices,
)
from edgesieve.experiments.summary import mean_std, verdict


class TinyNet(nn.Module):
    cam_layer = "features"

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def tiny_bundle(n=240, groups=False):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 2, 16)).astype(np.float32)
    x[:, 0, :] += y[:, None]  # learnable signal
    yt = np.arange(60) % 3
    xt = rng.normal(size=(60, 2, 16)).astype(np.float32)
    xt[:, 0, :] += yt[:, None]
    return DataBundle("tiny", x, y.astype(np.int64), xt, yt.astype(np.int64), ("a", "b", "c"),
                      groups=(np.arange(n) // 8) if groups else None)


def without_timing(records):
    return [{d: {k: v for k, v in e.items() if k != "decision_ms_per_point"} for d, e in r["by_dpw"].items()} for r in records]


def cfg(**kw):
    return ProtocolConfig(**{"dataset": "tiny", "runs": 2, "epochs": 1, "batch_size": 32, "lr": 1e-2, **kw})


def test_split_fractions_and_groups_stay_together():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(50), 4)
    parts = split_indices(200, (0.4, 0.2, 0.4), rng, groups)
    assert sorted(np.concatenate(parts).tolist()) == list(range(200))
    sides = [set(groups[p]) for p in parts]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert [len(p) for p in parts] == [80, 40, 80]


def test_label_noise_flips_exactly_the_fraction_to_other_classes():
    y = np.arange(1000) % 10
    idx = np.arange(500)
    noisy = add_label_noise(y, idx, 0.3, 10, np.random.default_rng(0))
    changed = noisy != y
    assert changed[:500].sum() == 150 and not changed[500:].any()


def test_run_resume_and_determinism(tmp_path):
    bundle = tiny_bundle()
    records = run_protocol(bundle, TinyNet, cfg(dpws=(0.25, 0.4)), tmp_path / "a", progress=False)
    assert len(records) == 2 and set(records[0]["by_dpw"]) == {"0.25", "0.4"}
    entry = records[0]["by_dpw"]["0.25"]
    assert 0 <= entry["savings"] < 1 and entry["bytes_saved"] == (records[0]["sizes"]["d3"] - entry["retained"]) * bundle.sample_nbytes
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["runs"] == 2 and "verdict" in summary["by_dpw"]["0.25"]
    assert "drip − Random" in (tmp_path / "a" / "table.md").read_text()
    # the same config elsewhere gives identical numbers
    again = run_protocol(bundle, TinyNet, cfg(dpws=(0.25, 0.4)), tmp_path / "b", progress=False)
    assert without_timing(again) == without_timing(records)
    # resuming: finished runs are not redone; a half-written run file is redone
    run1 = tmp_path / "a" / "runs" / "run_001.json"
    mtime0 = (tmp_path / "a" / "runs" / "run_000.json").stat().st_mtime_ns
    run1.write_text(run1.read_text()[:50])
    resumed = run_protocol(bundle, TinyNet, cfg(dpws=(0.25, 0.4)), tmp_path / "a", progress=False)
    assert (tmp_path / "a" / "runs" / "run_000.json").stat().st_mtime_ns == mtime0
    assert without_timing(resumed) == without_timing(records)
    # more runs extend the same folder
    more = run_protocol(bundle, TinyNet, cfg(dpws=(0.25, 0.4), runs=3), tmp_path / "a", progress=False)
    assert len(more) == 3 and (tmp_path / "a" / "runs" / "run_000.json").stat().st_mtime_ns == mtime0


def test_other_config_in_the_folder_is_refused(tmp_path):
    bundle = tiny_bundle()
    run_protocol(bundle, TinyNet, cfg(runs=1), tmp_path / "a", progress=False)
    before = (tmp_path / "a" / "runs" / "run_000.json").read_text()
    with pytest.raises(ValueError, match=r"different config \(differs in \{'dpws'"):
        run_protocol(bundle, TinyNet, cfg(runs=1, dpws=(0.3,)), tmp_path / "a", progress=False)
    assert (tmp_path / "a" / "runs" / "run_000.json").read_text() == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an edgesieve results folder"):
        run_protocol(bundle, TinyNet, cfg(runs=1), tmp_path / "other", progress=False)


def test_grouped_data_and_other_selectors(tmp_path):
    bundle = tiny_bundle(groups=True)
    records = run_protocol(bundle, TinyNet, cfg(runs=1, selector="random", selector_params=(("p", 0.5),)), tmp_path / "r", progress=False)
    assert 0.3 < records[0]["by_dpw"]["0.25"]["retention"] < 0.7


def test_label_noise_is_recorded(tmp_path):
    records = run_protocol(tiny_bundle(), TinyNet, cfg(runs=1, label_noise=0.2), tmp_path / "n", progress=False)
    assert records[0]["by_dpw"]["0.25"]["noisy_label_share_d3"] == pytest.approx(0.2, abs=0.05)


def test_d3_arrives_as_the_stream_scenario_while_d1_stays_clean(tmp_path):
    records = run_protocol(tiny_bundle(n=600), TinyNet, cfg(runs=1, stream="imbalanced:ratio=10+label-noise:rate=0.3"),
                           tmp_path / "s", progress=False)
    r = records[0]
    assert r["stream"] == "imbalanced:ratio=10+label-noise:rate=0.3"
    assert r["sizes"]["d3"] < 240  # the long-tailed stream is shorter than D3 (40% of 600)
    entry = r["by_dpw"]["0.25"]
    assert entry["noisy_label_share_d3"] == pytest.approx(0.3, abs=0.01)
    assert entry["retained"] + round(entry["savings"] * r["sizes"]["d3"]) == r["sizes"]["d3"]
    # iid keeps the identity (and so the resumable results) of runs made before streams existed
    assert cfg().identity_hash() == cfg(stream="iid").identity_hash() != cfg(stream="imbalanced:ratio=10").identity_hash()


@pytest.mark.parametrize("bad", [{"stream": "nope"}, {"stream": "imbalanced:ratio=0"},
                                 {"stream": "label-noise:rate=0.2", "label_noise": 0.1}, {"runs": 0}, {"dpws": (0.0,)}, {"dpws": (1.2,)}, {"label_noise": 1.0},
                                 {"selector": "nope"}, {"selector": "random", "dpws": (0.1, 0.2)}, {"pool": 5}])
def test_bad_configs(bad):
    with pytest.raises(ValueError):
        cfg(**bad)


def test_verdicts():
    assert verdict([1.0, 1.1, 0.9, 1.2]) == "beats random"
    assert verdict([-1.0, -1.1, -0.9]) == "loses to random"
    assert verdict([0.5, -0.4, 0.1]).startswith("does not beat random")
    assert mean_std([2.0]) == (2.0, 0.0)


def test_user_data_without_test_split(tmp_path):
    x = torch.randn(200, 2, 16)
    y = torch.arange(200) % 3
    bundle = DataBundle.from_arrays("mine", x, y, test_fraction=0.25, seed=1)
    assert bundle.x_test.shape[0] == 50 and bundle.x.shape[0] == 150
    records = run_protocol(bundle, TinyNet, cfg(runs=1, dataset="mine"), tmp_path / "m", progress=False)
    assert records[0]["sizes"]["test"] == 50


def test_a_runs_baseline_comes_from_the_process_cache_bit_identical_to_training_it_again(monkeypatch):
    from edgesieve.experiments import protocol
    from edgesieve.experiments.protocol import RunContext, prepare_run, run_once

    monkeypatch.setattr(protocol, "_BASELINES", type(protocol._BASELINES)())
    bundle = tiny_bundle(n=300)
    trained = []
    ctx = RunContext(bundle, TinyNet, cfg(runs=1, stream="duplicates:rate=0.5"), progress=False)
    fit = ctx.fit
    monkeypatch.setattr(ctx, "fit", lambda x, y, seed, desc, steps=None: trained.append(desc) or fit(x, y, seed, desc, steps))
    first = ctx.fit_baseline(prepare_run(ctx, 0))
    after_training = torch.get_rng_state()
    torch.manual_seed(123)  # whatever ran in between: a hit leaves the generator where training left it
    again = ctx.fit_baseline(prepare_run(ctx, 0))
    assert trained == ["baseline"] and torch.equal(torch.get_rng_state(), after_training)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert not again.training and again is not first
    ctx.fit_baseline(prepare_run(ctx, 1))  # another seed: trained
    assert trained == ["baseline", "baseline"]
    # another stream of the same seed shares D1: a whole run with the cached baseline equals a fresh one
    iid = RunContext(bundle, TinyNet, cfg(runs=1), progress=False)
    cached = run_once(iid, 0)
    monkeypatch.setattr(protocol, "_BASELINES", type(protocol._BASELINES)())
    fresh = run_once(iid, 0)
    assert without_timing([cached]) == without_timing([fresh]) and cached["baseline"] == fresh["baseline"]
    for seed in range(2, 2 + protocol.BASELINES_KEPT + 1):  # bounded: the oldest go
        ctx.fit_baseline(prepare_run(ctx, seed))
    assert len(protocol._BASELINES) == protocol.BASELINES_KEPT
