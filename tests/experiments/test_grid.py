"""Experiment grids on Ray at a tiny size: cells complete on the embedded instance, rerunning
skips them untouched, a killed driver loses only what was in flight, failing cells leave error
records, the report equals an independent computation, a two-node cluster is joined by
--address, and bad grids are refused with one line and nothing written."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scipy import stats

from edgesieve.cli.main import main
from edgesieve.errors import DatasetNotFoundError

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

TINY = ["--protocol", "titan", "--datasets", "har", "--methods", "titan,rs", "--set", "rounds=4", "--set", "v=20",
        "--set", "eval_every=2", "--set", "calibration=20", "--no-progress"]


def har_available():
    from edgesieve.data import load_dataset

    try:
        load_dataset("har")
    except DatasetNotFoundError:
        return False
    return True


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not har_available(), reason="HAR not fetched")]


def ray_processes(*markers: str):
    """The processes of the Ray instances this test started: those whose command line holds a
    marker (a session folder's suffix ``_<driver pid>/``, or a cluster's GCS port) and their
    descendants. Ray work on this machine that the test did not start (a user's own grid running
    beside the tests) is never counted, and never stopped."""
    found = {}
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if any(m in cmd for m in markers):
            found[p.pid] = p
            try:
                found.update((c.pid, c) for c in p.children(recursive=True))
            except psutil.Error:
                pass
    return list(found.values())


def own_session(pid: int) -> str:
    return f"_{pid}/"  # an embedded Ray's session folder ends in its driver's pid


def core_ray(p):
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return False
    return "raylet" in cmd or "gcs_server" in cmd or "default_worker.py" in cmd


def cell_files(out):
    return sorted(p for p in Path(out).rglob("seed_*.json") if not p.name.endswith(".error.json"))


@pytest.fixture(scope="module")
def grid_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid") / "cells"
    assert main(["grid", "run", *TINY, "--seeds", "4", "--out", str(out), "--num-cpus", "2"]) == 0
    return out


def test_a_grid_of_eight_cells_completes_and_a_rerun_skips_them_untouched(grid_out, capsys):
    files = cell_files(grid_out)
    assert len(files) == 8
    cell = json.loads(files[0].read_text())
    assert set(cell) >= {"config", "versions", "metrics", "wall_time_s", "peak_rss_mb", "config_hash"}
    assert set(cell["metrics"]) >= {"final_accuracy", "last20_accuracy", "auc", "curve"}
    before = {p: p.stat().st_mtime_ns for p in files}
    capsys.readouterr()
    assert main(["grid", "run", *TINY, "--seeds", "4", "--out", str(grid_out)]) == 0
    assert "0 done, 8 skipped" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in cell_files(grid_out)} == before
    assert not ray_processes(own_session(os.getpid()))


def test_report_json_equals_an_independent_computation(grid_out, capsys):
    capsys.readouterr()
    assert main(["grid", "report", str(grid_out), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    cells = [json.loads(p.read_text()) for p in cell_files(grid_out)]
    by = {(c["method"], c["seed"]): c["metrics"] for c in cells}
    for metric in ("last20_accuracy", "auc", "final_accuracy"):
        diffs = [100 * (by["titan", s][metric] - by["rs", s][metric]) for s in range(4)]
        mean = sum(diffs) / 4
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 3)
        half = stats.t.ppf(0.975, 3) * sd / 2
        row = next(r for r in records if r["method"] == "titan" and r["metric"] == metric)
        assert row["n"] == 4 and row["reference"] == "rs" and row["protocol"] == "titan" and row["stream"] == "iid"
        assert row["diff_mean"] == pytest.approx(mean, abs=1e-9)
        if sd > 0:
            assert row["ci_low"] == pytest.approx(mean - half, abs=1e-9) and row["ci_high"] == pytest.approx(mean + half, abs=1e-9)
        values = [100 * by["titan", s][metric] for s in range(4)]
        assert row["mean"] == pytest.approx(sum(values) / 4, abs=1e-9)
        rs_row = next(r for r in records if r["method"] == "rs" and r["metric"] == metric)
        assert rs_row["diff_mean"] is None and rs_row["verdict"] == "reference"
    assert (grid_out / "report.md").exists() and (grid_out / "report.png").exists()


def test_sigkill_of_the_driver_then_rerun_loses_nothing_finished(tmp_path):
    out = tmp_path / "cells"
    argv = [sys.executable, "-m", "edgesieve", "grid", "run", *TINY, "--seeds", "5", "--out", str(out), "--num-cpus", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(cell_files(out)) < 2 and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "the grid finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = own_session(proc.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(core_ray(p) for p in ray_processes(killed)):
        time.sleep(0.5)
    assert not [p for p in ray_processes(killed) if core_ray(p)], "raylet or GCS outlived the killed driver"
    # Ray's two agent processes notice the raylet's death and exit on their own within ~2 minutes
    # (they first try to flush logs to the dead GCS); the test does not wait for that
    for p in ray_processes(killed):
        p.kill()
    psutil.wait_procs(ray_processes(killed), timeout=10)
    finished = {p: p.stat().st_mtime_ns for p in cell_files(out)}
    assert finished and all(json.loads(p.read_text())["metrics"] for p in finished)  # never a partial JSON
    assert main(["grid", "run", *TINY, "--seeds", "5", "--out", str(out), "--num-cpus", "2"]) == 0
    files = cell_files(out)
    assert len(files) == 10 and len({p.name for p in files if p.parent.name == "rs"}) == 5
    assert all(finished[p] == p.stat().st_mtime_ns for p in finished)  # completed cells were not re-run
    assert not ray_processes(own_session(os.getpid()))


def test_a_failing_cell_leaves_an_error_record_and_a_rerun_after_the_fix_completes(tmp_path, monkeypatch, capsys):
    from edgesieve.data import data_home

    real, home = data_home(), tmp_path / "data"
    shutil.copytree(real / "har", home / "har")  # fsdd is missing from this data home
    monkeypatch.setenv("EDGESIEVE_DATA", str(home))
    out = tmp_path / "cells"
    argv = ["grid", "run", *TINY, "--datasets", "har,fsdd", "--seeds", "1", "--set", "repeat_stream=true",
            "--out", str(out), "--num-cpus", "2"]
    capsys.readouterr()
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "2 done, 0 skipped (already there), 2 failed" in text
    errors = sorted(out.rglob("*.error.json"))
    assert len(errors) == 2 and all("fsdd" in str(p) for p in errors)
    assert "DatasetNotFoundError" in json.loads(errors[0].read_text())["error"]
    shutil.copytree(real / "fsdd", home / "fsdd")  # the fix
    assert main(argv) == 0
    assert "2 done, 2 skipped" in capsys.readouterr().out
    assert not list(out.rglob("*.error.json")) and len(cell_files(out)) == 4


def test_a_two_node_cluster_runs_a_grid_through_address(tmp_path, capsys):
    ray_cli = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    port = "6391"
    started = []
    try:
        for cmd in ([str(ray_cli), "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                     "--disable-usage-stats", "--node-ip-address=127.0.0.1"],
                    [str(ray_cli), "start", f"--address=127.0.0.1:{port}", "--num-cpus=1", "--disable-usage-stats",
                     "--node-ip-address=127.0.0.1"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
            started.append(cmd)
        code = subprocess.run([sys.executable, "-m", "edgesieve", "grid", "run", *TINY, "--seeds", "2",
                               "--out", str(tmp_path / "cells"), "--address", f"127.0.0.1:{port}"],
                              env=env, capture_output=True, text=True, timeout=300)
        assert code.returncode == 0, code.stderr[-3000:]
        assert "4 done" in code.stdout and len(cell_files(tmp_path / "cells")) == 4
    finally:  # not `ray stop`, which stops every Ray on the machine: only what this test started
        cluster = (f"port={port}", f"127.0.0.1:{port}")
        for p in ray_processes(*cluster):
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(ray_processes(*cluster), timeout=30)
        for p in alive:
            p.kill()
    deadline = time.monotonic() + 30
    while ray_processes(*cluster) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_processes(*cluster)


@pytest.mark.parametrize("argv, message", [
    (["--protocol", "oracle", "--datasets", "har", "--methods", "rs", "--seeds", "1"], "unknown protocol 'oracle'; available: drip, titan"),
    (["--protocol", "titan", "--datasets", "cifar", "--methods", "rs", "--seeds", "1"], "unknown data set 'cifar'"),
    (["--protocol", "titan", "--datasets", "har", "--streams", "drifty", "--methods", "rs", "--seeds", "1"],
     "unknown stream scenario 'drifty'"),
    (["--protocol", "titan", "--datasets", "har", "--streams", "dirichlet:alpha=0", "--methods", "rs", "--seeds", "1"],
     "stream scenario 'dirichlet': alpha must be > 0, got 0.0"),
    (["--protocol", "titan", "--datasets", "har", "--methods", "rs", "--seeds", "1", "--set", "eval_on=train"],
     "eval_on must be 'test' or 'validation'"),
    (["--protocol", "titan", "--datasets", "har", "--methods", "rs,oracle", "--seeds", "1"], "unknown methods ['oracle']"),
    (["--protocol", "store", "--datasets", "har", "--methods", "reservoir,gdumb", "--seeds", "1"],
     "[config] capacity (a fraction of the stream in (0, 1)) is needed"),
    (["--protocol", "store", "--datasets", "har", "--methods", "gdumb", "--seeds", "1", "--set", "capacity=0.1"],
     "include reservoir in the methods"),
    (["--protocol", "store", "--datasets", "har", "--methods", "reservoir,trust_balanced:within=best", "--seeds", "1",
      "--set", "capacity=0.1"], "store protocol method 'trust_balanced:within=best': trust_balanced: within must be one of"),
    (["--protocol", "titan", "--datasets", "", "--methods", "rs", "--seeds", "1"], "the grid has no datasets"),
    (["--protocol", "titan", "--datasets", "har", "--methods", "rs", "--seeds", "1", "--set", "roundz=3"],
     "unknown [config] keys ['roundz']"),
    (["--protocol", "titan", "--datasets", "har", "--methods", "rs", "--seeds", "1", "--address", "127.0.0.1:1"],
     "no Ray cluster reachable at --address 127.0.0.1:1"),
])
def test_bad_grids_are_one_clear_line_and_write_nothing(argv, message, tmp_path, capsys):
    out = tmp_path / "cells"
    assert main(["grid", "run", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_unreadable_grid_file_is_refused(tmp_path, capsys):
    bad = tmp_path / "grid.toml"
    bad.write_text("protocol = titan\n[config\n")
    assert main(["grid", "run", str(bad), "--out", str(tmp_path / "cells")]) == 2
    assert "is not readable TOML" in capsys.readouterr().err and not (tmp_path / "cells").exists()


def test_a_grid_without_a_results_folder_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["grid", "run", "--protocol", "titan", "--datasets", "har", "--methods", "rs", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert "say where the cells go: --out FOLDER, or out = \"FOLDER\" in the grid file" in err
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
    bad = tmp_path / "grid.toml"
    bad.write_text('protocol = "titan"\ndatasets = ["har"]\nmethods = ["rs"]\nseeds = 1\nout = ""\n')
    assert main(["grid", "run", str(bad)]) == 2
    assert "out must name a results folder" in capsys.readouterr().err


def test_a_grid_files_out_is_its_default_results_folder_and_saved_with_it():
    from edgesieve.experiments.grid.spec import load_grid

    grid = load_grid(None, protocol="titan", datasets=["har"], methods=["rs"], seeds=1, out="results/x")
    assert grid.out == "results/x" and grid.to_json()["out"] == "results/x"
    assert load_grid(**grid.to_json()) == grid  # what a results folder saves loads back the same
    assert "out" not in load_grid(None, protocol="titan", datasets=["har"], methods=["rs"], seeds=1).to_json()


def test_the_storage_protocol_writes_every_arm_of_a_seed_from_one_task(tmp_path, capsys):
    out = tmp_path / "cells"
    argv = ["grid", "run", "--protocol", "drip", "--datasets", "har", "--methods", "drip,random,baseline,all_data",
            "--seeds", "2", "--set", "pool=400", "--set", "epochs=1", "--out", str(out), "--num-cpus", "2", "--no-progress"]
    assert main(argv) == 0
    files = cell_files(out)
    assert len(files) == 8 and {p.parent.name for p in files} == {"drip", "random", "baseline", "all_data"}
    drip = json.loads((out / "drip" / "har" / "iid" / "drip" / "seed_001.json").read_text())
    rnd = json.loads((out / "drip" / "har" / "iid" / "random" / "seed_001.json").read_text())
    assert drip["metrics"]["retained"] == rnd["metrics"]["retained"] and drip["task_cells"] == 4
    assert 0 <= drip["metrics"]["test_accuracy"] <= 1
    capsys.readouterr()
    assert main(["grid", "report", str(out), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    row = next(r for r in records if r["method"] == "drip")
    assert row["reference"] == "random" and row["metric"] == "test_accuracy" and row["n"] == 2
    assert main(["grid", "run", *argv[2:7], "drip,rs", *argv[8:]]) == 2  # a batch method is no storage policy


def test_an_online_cell_streams_the_scenario_one_pass_and_measures_the_whole_split_at_the_end():
    from edgesieve.experiments.grid.cells import run_task
    from edgesieve.experiments.grid.spec import Grid

    grid = Grid("titan", ("har",), ("imbalanced:ratio=10+label-noise:rate=0.2",), ("rs",), (0,),
                {"rounds": "pass", "v": 20, "batch": 5, "buffer": 10, "calibration": 20, "eval_every": 2,
                 "eval_subset": 50, "validation": 100, "har": {"lr": 0.05}})
    (task,) = grid.tasks()
    (record,) = run_task(task)
    m = record["metrics"]
    assert m["rounds"] == m["stream_length"] // 20 and m["stream_length"] < 3000
    assert m["curve_on"] == "test subset of 50" and 0 <= m["test_accuracy"] <= 1
    assert record["config"]["rounds"] == "pass" and record["config"]["lr"] == 0.05
    val = Grid("titan", ("har",), ("iid",), ("rs",), (0,), {"rounds": 4, "v": 20, "calibration": 20, "eval_every": 2,
                                                             "validation": 100, "eval_on": "validation"})
    (vrec,) = run_task(val.tasks()[0])
    assert "validation_accuracy" in vrec["metrics"] and "test_accuracy" not in vrec["metrics"]


def test_the_capacity_mode_runs_as_a_grid_with_reservoir_as_the_reference(tmp_path, capsys):
    out = tmp_path / "cells"
    assert main(["grid", "run", "--protocol", "store", "--datasets", "har", "--methods",
                 "reservoir,class_balanced,gdumb,pbrs,trust_balanced:within=random", "--seeds", "2", "--set", "capacity=0.1", "--set", "epochs=1", "--set", "pool=400", "--out", str(out),
                 "--num-cpus", "2", "--no-progress"]) == 0
    assert len(cell_files(out)) == 10
    assert (out / "store" / "har" / "iid" / "trust_balanced:within=random" / "seed_001.json").exists()
    cell = json.loads((out / "store" / "har" / "iid" / "gdumb" / "seed_000.json").read_text())
    assert cell["config"]["capacity"] == 0.1 and cell["metrics"]["sizes"]["class_source"] == "label"
    capsys.readouterr()
    assert main(["grid", "report", str(out), "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["method"] == "gdumb"]
    assert rows[0]["reference"] == "reservoir" and rows[0]["n"] == 2


def test_a_method_added_to_a_finished_store_grid_runs_alone_and_equals_a_joint_run(tmp_path):
    from edgesieve.experiments.grid.cells import run_task
    from edgesieve.experiments.grid.runner import pending_tasks
    from edgesieve.experiments.grid.spec import Grid

    cfg = {"capacity": 0.1, "epochs": 1, "pool": 400}
    out = tmp_path / "cells"
    first = Grid("store", ("har",), ("iid",), ("reservoir",), (0,), cfg)
    assert main(["grid", "run", "--protocol", "store", "--datasets", "har", "--methods", "reservoir", "--seeds", "1",
                 *[a for k, v in cfg.items() for a in ("--set", f"{k}={v}")], "--out", str(out), "--num-cpus", "1",
                 "--no-progress"]) == 0
    both = Grid("store", ("har",), ("iid",), ("reservoir", "pbrs"), (0,), cfg)
    (task,), skipped = pending_tasks(both, out)
    assert task.methods == ("pbrs",) and skipped == 1 and pending_tasks(first, out) == ([], 1)
    (alone,) = run_task(task)
    joint = {r["method"]: r for r in run_task(both.tasks()[0])}
    assert alone["metrics"] == joint["pbrs"]["metrics"]


def test_a_dead_ray_instance_stops_the_grid_without_blaming_the_cells(tmp_path):
    from edgesieve.experiments.grid.runner import GridOutcome, _collect
    from edgesieve.experiments.grid.spec import Grid, GridError

    grid = Grid("titan", ("har",), ("iid",), ("rs",), (0,), {"rounds": 2})
    (task,) = grid.tasks()

    def dead_ray():
        raise ray.exceptions.LocalRayletDiedError()

    with pytest.raises(GridError, match="the Ray instance failed .*Rerun the same command to resume"):
        _collect(dead_ray, task, tmp_path, grid, GridOutcome())
    assert not list(tmp_path.rglob("*.json"))  # no error record: the cell did nothing wrong


def test_a_data_set_can_have_its_own_split(tmp_path):
    from edgesieve.experiments.grid.spec import GridError, load_grid

    path = tmp_path / "g.toml"
    body = ('protocol = "store"\ndatasets = ["har"]\nmethods = ["reservoir"]\nseeds = 1\n'
            '[config]\ncapacity = 0.1\n[config.har]\nsplit = [%s]\n')
    path.write_text(body % "0.05, 0.15, 0.8")
    grid = load_grid(path)
    assert grid.drip_config("har").split == (0.05, 0.15, 0.8)
    assert grid.cell_config(grid.cells()[0])["split"] == [0.05, 0.15, 0.8]
    path.write_text(body % "0.5, 0.6, 0.1")
    with pytest.raises(GridError, match="split must be three positive fractions summing to 1"):
        load_grid(path)


def test_a_data_set_can_have_its_own_store_capacity(tmp_path):
    from edgesieve.experiments.grid.spec import GridError, load_grid

    path = tmp_path / "g.toml"
    body = ('protocol = "store"\ndatasets = ["har", "fsdd"]\nmethods = ["reservoir"]\nseeds = 1\n'
            '[config]\ncapacity = 0.1\n[config.fsdd]\ncapacity = %s\n')
    path.write_text(body % "0.25")
    grid = load_grid(path)
    caps = {c.dataset: grid.cell_config(c)["capacity"] for c in grid.cells()}
    assert caps == {"har": 0.1, "fsdd": 0.25} and grid.capacity("fsdd") == 0.25
    path.write_text(body % "1.5")
    with pytest.raises(GridError, match=r"\[config.fsdd\] capacity \(a fraction of the stream in \(0, 1\)\) is needed"):
        load_grid(path)


def test_set_flags_change_one_setting_and_keep_the_rest_of_the_file(tmp_path):
    """``grid run grid.toml --set v=40`` changes v for every data set and nothing else: the file's
    other settings and the data sets' own tables stay (a --set once replaced the whole [config],
    and the cells silently ran with the protocol's defaults)."""
    from edgesieve.cli.main import build_parser
    from edgesieve.experiments.grid.spec import load_grid

    path = tmp_path / "g.toml"
    path.write_text('protocol = "titan"\ndatasets = ["har", "fsdd"]\nmethods = ["rs"]\nseeds = 1\n'
                    '[config]\nrounds = 100\nrepeat_stream = true\nv = 100\n[config.fsdd]\nlr = 0.03\nv = 50\n')
    args = build_parser().parse_args(["grid", "run", str(path), "--set", "v=40", "--set", "buffer=15", "--out", "x"])
    grid = load_grid(args.grid_file, config=dict(args.settings))
    configs = {c.dataset: grid.cell_config(c) for c in grid.cells()}
    for dataset in ("har", "fsdd"):
        assert configs[dataset]["v"] == 40 and configs[dataset]["buffer"] == 15
        assert configs[dataset]["rounds"] == 100 and configs[dataset]["repeat_stream"] is True
    assert configs["fsdd"]["lr"] == 0.03 and configs["har"]["lr"] == 0.1


def test_in_process_cells_equal_the_ray_cells(grid_out, tmp_path):
    """`reproduce`'s in-process path writes the same cells as Ray (timings aside)."""
    from edgesieve.experiments.grid import load_grid, run_grid

    grid = load_grid(protocol="titan", datasets=["har"], methods=["titan", "rs"], seeds=4,
                     config={"rounds": 4, "v": 20, "eval_every": 2, "calibration": 20})
    outcome = run_grid(grid, tmp_path / "cells", progress=False, in_process=True, num_cpus=1)
    assert outcome.done == 8 and not outcome.failed
    for ray_file in cell_files(grid_out):
        mine = json.loads((tmp_path / "cells" / ray_file.relative_to(grid_out)).read_text())
        theirs = json.loads(ray_file.read_text())
        assert mine["config_hash"] == theirs["config_hash"]
        for key in ("curve", "final_accuracy", "last20_accuracy", "auc", "test_accuracy"):
            assert mine["metrics"][key] == theirs["metrics"][key], (ray_file, key)


def test_a_dpw_sweep_is_one_run_per_seed_with_the_baseline_shared(tmp_path):
    from edgesieve.experiments.grid import load_grid
    from edgesieve.experiments.grid.cells import run_task
    from edgesieve.experiments.grid.spec import GridError

    methods = ["drip:dpw=0.2", "random:dpw=0.2", "drip:dpw=0.4", "random:dpw=0.4", "baseline", "all_data"]
    grid = load_grid(protocol="drip", datasets=["har"], methods=methods, seeds=1, config={"pool": 300, "epochs": 1})
    (task,) = grid.tasks()
    assert grid.task_dpws(task) == (0.2, 0.4)
    records = {r["method"]: r for r in run_task(task)}
    assert records["drip:dpw=0.2"]["config"]["dpws"] == [0.2] and records["drip:dpw=0.4"]["config"]["dpws"] == [0.4]
    for dpw in ("0.2", "0.4"):  # each DPW's random arm keeps as many as the selector did at that DPW
        assert records[f"random:dpw={dpw}"]["metrics"]["retained"] == records[f"drip:dpw={dpw}"]["metrics"]["retained"]
    assert records["drip:dpw=0.2"]["metrics"]["retained"] != records["drip:dpw=0.4"]["metrics"]["retained"]
    for bad, message in [("drip:dpw=1.5", "the only parameter is dpw=F"), ("drip:k=1", "the only parameter is dpw=F"),
                         ("baseline:dpw=0.2", "only drip and random take a dpw")]:
        with pytest.raises(GridError, match=message):
            load_grid(protocol="drip", datasets=["har"], methods=["drip", "random", bad], seeds=1)


def test_a_target_accuracy_setting_puts_the_time_to_target_in_every_online_cell():
    from edgesieve.experiments.grid import load_grid
    from edgesieve.experiments.grid.cells import run_task
    from edgesieve.experiments.grid.spec import GridError

    config = {"rounds": 4, "v": 20, "eval_every": 2, "calibration": 20, "target_accuracy": 0.05}
    grid = load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config=config)
    (record,) = run_task(grid.tasks()[0])
    assert record["metrics"]["target_accuracy"] == 0.05 and record["metrics"]["rounds_to_target"] == 2
    assert record["metrics"]["seconds_to_target"] == record["metrics"]["seconds_at_eval"][0]
    assert record["config"]["target_accuracy"] == 0.05
    with pytest.raises(GridError, match="target_accuracy must be an accuracy in"):
        load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config={**config, "target_accuracy": 80})


def test_a_model_setting_trains_that_registered_model_and_bad_models_are_refused_in_one_line():
    from edgesieve.experiments.grid import load_grid
    from edgesieve.experiments.grid.cells import run_task
    from edgesieve.experiments.grid.spec import GridError

    config = {"rounds": 2, "v": 20, "eval_every": 2, "calibration": 20}
    default = load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config=config)
    assert default.model_name("har") == "imu_cnn" and "model" not in default.cell_config(default.tasks()[0].cells[0])
    grid = load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config={**config, "model": "har_mlp"})
    assert grid.model_name("har") == "har_mlp"
    (record,) = run_task(grid.tasks()[0])
    assert record["config"]["model"] == "har_mlp" and record["config_hash"] != default.config_hash(default.tasks()[0].cells[0])
    with pytest.raises(GridError, match="model 'nope' is not a registered model; available: .*har_mlp"):
        load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config={**config, "model": "nope"})
    wrong = load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config={**config, "model": "mnist_cnn"})
    with pytest.raises(GridError, match=r"model 'mnist_cnn' does not take data set 'har''s samples \(shape \(6, 100\)\)"):
        run_task(wrong.tasks()[0])


def test_cpus_per_cell_reserves_that_many_cpus_per_task_and_is_checked(tmp_path):
    from edgesieve.experiments.grid import load_grid
    from edgesieve.experiments.grid.runner import run_grid
    from edgesieve.experiments.grid.spec import GridError

    config = {"rounds": 2, "v": 20, "eval_every": 2, "calibration": 20}
    grid = load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config={**config, "cpus_per_cell": 2})
    assert grid.task_cpus(grid.tasks()[0]) == 2
    for bad, message in [({"cpus_per_cell": 0}, "cpus_per_cell must be a positive integer"),
                         ({"mode": "pipelined", "pin_cores": True}, "pin_cores .* needs cpus_per_cell = 2")]:
        with pytest.raises(GridError, match=message):
            load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config={**config, **bad})
    with pytest.raises(GridError, match="needs 2 CPUs .* the Ray cluster has 1"):
        run_grid(grid, tmp_path / "out", num_cpus=1, progress=False)
    assert not list(tmp_path.rglob("*.json"))


def test_end_point_false_skips_only_the_whole_split_evaluation_and_keeps_the_config_hash():
    from edgesieve.experiments.grid import load_grid
    from edgesieve.experiments.grid.cells import run_task
    from edgesieve.experiments.grid.spec import GridError

    config = {"rounds": 4, "v": 20, "eval_every": 2, "calibration": 20, "eval_subset": 50}
    with_end = load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config=config)
    without = load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config={**config, "end_point": False})
    cell = with_end.tasks()[0].cells[0]
    # a cell with the end point serves a grid without it: same hash, every other metric equal
    assert with_end.config_hash(cell) == without.config_hash(cell)
    assert "end_point" not in with_end.cell_config(cell) and without.cell_config(cell)["end_point"] is False
    (a,), (b,) = run_task(with_end.tasks()[0]), run_task(without.tasks()[0])
    assert "test_accuracy" in a["metrics"] and "test_accuracy" not in b["metrics"]
    import torch  # cells record the CPU they ran on: torch's kernels, and so the last bits, depend on it

    assert a["versions"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and a["versions"]["cpu"]
    for key in ("curve", "final_accuracy", "last20_accuracy", "auc"):
        assert a["metrics"][key] == b["metrics"][key]
    # a curve on the whole split: its last point is the end point, at no extra cost, with or without the setting
    whole = load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1,
                      config={**config, "eval_subset": None, "end_point": False})
    (c,) = run_task(whole.tasks()[0])
    assert c["metrics"]["test_accuracy"] == c["metrics"]["curve"][-1][1] and c["metrics"]["curve_on"] == "test"
    with pytest.raises(GridError, match="end_point must be true or false, got 'no'"):
        load_grid(protocol="titan", datasets=["har"], methods=["rs"], seeds=1, config={**config, "end_point": "no"})


def test_a_storage_grid_runs_a_seeds_streams_one_after_another(tmp_path, monkeypatch):
    from edgesieve.experiments.grid import load_grid, runner

    order = []
    monkeypatch.setattr(runner, "_collect", lambda result, task, out, grid, outcome: order.append((task.seed, task.stream)))
    grid = load_grid(protocol="drip", datasets=["har"], streams=["iid", "duplicates:rate=0.5"],
                     methods=["drip", "random", "baseline", "all_data"], seeds=2)
    runner.run_grid(grid, tmp_path, in_process=True)
    assert order == [(0, "iid"), (0, "duplicates:rate=0.5"), (1, "iid"), (1, "duplicates:rate=0.5")]
