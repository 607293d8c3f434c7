import os
import multiprocessing

import pytest
import torch
from torch import nn

from edgesieve.experiments.online import OnlineConfig, Stream, run_online
from edgesieve.titan import ShallowFeatures


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
    assert not multiprocessing.active_children()


def test_worker_failure_surfaces_and_the_worker_stops():
    x, y = data(600)  # 5 rounds of data for 10 rounds: the stream ends inside the worker
    cfg = OnlineConfig(rounds=10, v=100, mode="pipelined", eval_every=100)
    with pytest.raises(RuntimeError, match="selection worker failed: ValueError: the stream ended early"):
        run_online(Net(), x, y, x[:50], y[:50], 3, cfg)
    assert not multiprocessing.active_children()


class FailsInTraining(Net):
    """Raises in its third training forward (the trainer's side; the worker runs eval mode)."""

    def forward(self, x):
        if self.training:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 3:
                raise KeyError("boom")
        return super().forward(x)


def test_trainer_failure_stops_the_worker():
    x, y = data(1000)
    with pytest.raises(KeyError, match="boom"):
        run_online(FailsInTraining(), x, y, x[:50], y[:50], 3,
                   OnlineConfig(rounds=8, v=100, mode="pipelined", eval_every=100))
    assert not multiprocessing.active_children()


def test_pipelined_mode_needs_a_picklable_model():
    x, y = data(1000)
    model = Net()
    model.fc.register_forward_hook(lambda *a: None)  # a lambda cannot cross to a process
    with pytest.raises(TypeError, match="picklable"):
        run_online(model, x, y, x[:50], y[:50], 3, OnlineConfig(rounds=3, v=100, mode="pipelined", eval_every=100))
    assert not multiprocessing.active_children()


def test_stream_ending_early_and_repeating():
    x, y = data(300)
    with pytest.raises(ValueError, match="stream ended early"):
        run_online(Net(), x, y, x[:50], y[:50], 3, OnlineConfig(rounds=5, v=100, eval_every=100))
    res = run_online(Net(), x, y, x[:50], y[:50], 3, OnlineConfig(rounds=5, v=100, eval_every=100, repeat_stream=True))
    assert len(res.round_seconds) == 5
    stream = Stream(300, 100, seed=0, held_out=100, repeat=True)
    rounds = [stream.next_round() for _ in range(4)]
    assert stream.passes == 2 and not set(stream.held_out.tolist()) & set(torch.cat(rounds).tolist())
    assert sorted(torch.cat(rounds[:2]).tolist()) == sorted(torch.cat(rounds[2:]).tolist())


def test_methods_share_the_stream_and_the_rivals_can_sit_behind_a_coarse_stage():
    x, y = data()
    xt, yt = data(300, seed=1)
    for coarse in ("titan", "drip"):
        torch.manual_seed(0)
        cfg = OnlineConfig(method="hl", rounds=6, v=100, eval_every=3, coarse=coarse, drip_recalibrate_every=2)
        res = run_online(Net(), x, y, xt, yt, 3, cfg)
        assert len(res.coarse_ms_per_sample) == 6 and len(res.fine_ms) == 6


def test_unseen_and_out_of_range_labels():
    x, y = data()
    y = y.clamp(max=1)  # class 2 never appears in the stream: documented, no error
    res = run_online(Net(), x, y, x[:50], y[:50], 3, OnlineConfig(rounds=3, v=100, eval_every=3))
    assert len(res.curve) == 1
    with pytest.raises(ValueError, match="labels must be in"):
        run_online(Net(), x, y + 5, x[:50], y[:50], 3, OnlineConfig(rounds=3, v=100, eval_every=3))


def test_nan_in_the_stream_is_a_clear_error():
    x, y = data()
    x[::7] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        run_online(Net(), x, y, x[:50], y[:50], 3, OnlineConfig(rounds=5, v=100, eval_every=100))


@pytest.mark.parametrize("bad", [{"buffer": 5, "batch": 10}, {"v": 0}, {"v": 5, "batch": 10, "buffer": 30}, {"mode": "async"},
                                 {"method": "oracle"}, {"coarse": "deep"}, {"calibration": 0}])
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
    cells = sorted((tmp_path / "t").rglob("seed_*.json"))
    assert [p.parent.name for p in cells] == ["ocs", "rs", "titan"]  # one grid cell per (method, seed)
    before = {p: p.stat().st_mtime_ns for p in cells}
    assert main(argv) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "t").rglob("seed_*.json")}
    capsys.readouterr()
    assert main([*argv[:-3], "--lr", "0.5", "--out", str(tmp_path / "t")]) == 2  # another config: refused
    assert "computed with another config" in capsys.readouterr().err
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "t").rglob("seed_*.json")}


def test_reproduce_refuses_a_folder_of_the_old_layout(tmp_path, capsys):
    from edgesieve.cli.main import main

    old = tmp_path / "t"
    (old / "runs").mkdir(parents=True)
    (old / "config.json").write_text('{"config": {}, "config_hash": "x"}')
    assert main(["reproduce", "titan", "--dataset", "har", "--methods", "rs", "--seeds", "1", "--out", str(old)]) == 2
    assert "scripts/migrate_reproduce_results.py" in capsys.readouterr().err


def test_stream_budget_trims_rounds_to_the_trainers_step():
    x, y = data()
    xt, yt = data(300, seed=1)
    cfg = OnlineConfig(rounds=12, v=100, eval_every=6, mode="pipelined", stream_budget="train_time")
    res = run_online(Net(), x, y, xt, yt, 3, cfg)
    assert len(res.coverage) == 12 and res.coverage[0] == 1.0
    assert all(0.1 <= c <= 1.0 for c in res.coverage)
    with pytest.raises(ValueError, match="needs mode='pipelined'"):
        OnlineConfig(stream_budget="train_time")


KILLED_TRAINER = """
import sys, torch
sys.path.insert(0, {root!r})
from tests.experiments.test_online import Net, data
from edgesieve.experiments.online import OnlineConfig, run_online
x, y = data()
run_online(Net(), x, y, x[:50], y[:50], 3, OnlineConfig(rounds=100000, v=100, mode="pipelined", eval_every=10**6,
           repeat_stream=True))
"""


def test_a_killed_trainer_leaves_no_worker_behind(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    psutil = pytest.importorskip("psutil")
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen([sys.executable, "-c", KILLED_TRAINER.format(root=root)])
    try:
        deadline = time.time() + 120
        workers = []
        while time.time() < deadline and not workers:  # wait for the worker to start selecting
            workers = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
            time.sleep(0.5)
        assert workers, "the pipelined run never started its worker"
        time.sleep(2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"orphaned worker(s): {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs on Linux")
def test_pinned_pipeline_gives_the_same_run_and_restores_the_callers_cpus():
    x, y = data(2000)
    before = os.sched_getaffinity(0)
    free = run_online(Net(), x, y, x[:50], y[:50], 3, OnlineConfig(rounds=6, v=100, mode="pipelined", eval_every=3))
    pinned = run_online(Net(), x, y, x[:50], y[:50], 3,
                        OnlineConfig(rounds=6, v=100, mode="pipelined", eval_every=3, pin_cores=True))
    assert pinned.curve == free.curve and os.sched_getaffinity(0) == before
    assert not multiprocessing.active_children()
    with pytest.raises(ValueError, match="pin_cores .* needs mode='pipelined'"):
        OnlineConfig(mode="sequential", pin_cores=True)
