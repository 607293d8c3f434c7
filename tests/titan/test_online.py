import threading

import pytest
import torch
from torch import nn

from edgesieve.titan.online import OnlineConfig, ShallowFeatures, run_online


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.features(x).mean(-1))


def data(n=3000, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 2, 12, generator=g)
    x[:, 0] += 2.0 * y[:, None].float()
    return x, y


@pytest.mark.parametrize("mode", ["train_only", "sequential", "pipelined"])
@pytest.mark.parametrize("method", ["titan", "rs"])
def test_modes_learn_and_time_rounds(mode, method):
    x, y = data()
    xt, yt = data(300, seed=1)
    torch.manual_seed(0)
    cfg = OnlineConfig(method=method, rounds=25, v=100, buffer=30, batch=10, eval_every=5, mode=mode)
    result = run_online(Net(), x, y, xt, yt, 3, cfg)
    assert [r for r, _ in result.curve] == [5, 10, 15, 20, 25]
    assert len(result.round_seconds) == 25 and result.final_accuracy > 0.5
    if mode != "train_only":
        assert len(result.fine_ms) == 25
        assert len(result.coarse_ms_per_sample) == (25 if method == "titan" else 0)
    assert not [t for t in threading.enumerate() if t.name == "titan-selector"]


def test_worker_failure_surfaces_and_the_worker_stops():
    x, y = data(500)  # 5 rounds of data for 10 rounds: the stream ends inside the worker
    cfg = OnlineConfig(rounds=10, v=100, mode="pipelined", eval_every=100)
    with pytest.raises(RuntimeError, match="selection worker failed: the stream ended early"):
        run_online(Net(), x, y, x[:50], y[:50], 3, cfg)
    assert not [t for t in threading.enumerate() if t.name == "titan-selector" and t.is_alive()]


def test_stream_ending_early_in_sequential_mode():
    x, y = data(300)
    with pytest.raises(ValueError, match="stream ended early"):
        run_online(Net(), x, y, x[:50], y[:50], 3, OnlineConfig(rounds=5, v=100, eval_every=100))


@pytest.mark.parametrize("bad", [{"buffer": 5, "batch": 10}, {"v": 0}, {"v": 5, "batch": 10, "buffer": 30}, {"mode": "async"}])
def test_bad_configs(bad):
    with pytest.raises(ValueError):
        OnlineConfig(**bad)


def test_shallow_features_stop_the_forward_early():
    model = Net()
    calls = []
    model.fc.register_forward_hook(lambda *a: calls.append(1))
    f = ShallowFeatures(model, "features.1")(torch.randn(4, 2, 12))
    assert f.shape == (4, 8 * 12) and not calls and not model.features[1]._forward_hooks


def test_reproduce_titan_cli_resumes(tmp_path, capsys):
    from edgesieve.cli.main import main
    from edgesieve.errors import DatasetNotFoundError

    try:
        from edgesieve.data import load_dataset

        load_dataset("har")
    except DatasetNotFoundError:
        pytest.skip("HAR not fetched")
    argv = ["reproduce", "titan", "--dataset", "har", "--methods", "titan,rs,ocs", "--seeds", "1", "--rounds", "6",
            "--v", "40", "--eval-every", "3", "--out", str(tmp_path / "t"), "--no-progress"]
    assert main(argv) == 0
    assert "time-to-accuracy vs RS" in capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "t" / "runs").iterdir())
    assert files == ["run_ocs_seed0.json", "run_rs_seed0.json", "run_titan_seed0.json"]
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "t" / "runs").iterdir()}
    assert main(argv) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "t" / "runs").iterdir()}
    assert main([*argv[:-3], "--lr", "0.5", "--out", str(tmp_path / "t")]) == 2  # another config: refused
