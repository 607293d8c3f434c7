"""Tiny end-to-end reproductions on each real data set (a few hundred samples, one epoch):
the whole path of `edgesieve reproduce drip`, sweeps and figures included."""

import json

import pytest

from edgesieve.cli.main import main
from edgesieve.errors import DatasetNotFoundError


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["mnist", "fashion", "fsdd", "har"])
def test_tiny_reproduction(dataset, tmp_path, capsys):
    from edgesieve.data import load_dataset

    try:
        load_dataset(dataset)
    except DatasetNotFoundError:
        pytest.skip(f"{dataset} not fetched (run `edgesieve data fetch {dataset}`)")
    out = tmp_path / dataset
    argv = ["reproduce", "drip", "--dataset", dataset, "--runs", "2", "--sweep-runs", "1", "--pool", "300", "--epochs", "1",
            "--dpw-sweep", "0.2,0.4", "--noise-sweep", "0,0.3", "--out", str(out), "--no-progress",
            "--in-process"]  # the Ray path: test_both_reproductions_take_a_stream_scenario and tests/experiments/test_grid.py
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "drip − Random" in printed and "report:" in printed
    report = (out / "report.md").read_text()
    for figure in ("score_histograms.png", "gradcam_overlays.png", "accuracy_vs_dpw.png", "accuracy_vs_noise.png"):
        assert (out / "figures" / figure).stat().st_size > 1000
        assert f"figures/{figure}" in report
    config = json.loads((out / "main" / "config.json").read_text())
    assert config["config"]["pool"] == 300 and config["grid"]["config"]["pool"] == 300
    # the runs are the grid's cells: 4 arms x 2 seeds in the main table, every DPW of the sweep from one run
    assert len(list((out / "main" / "drip" / dataset / "iid").glob("*/seed_*.json"))) == 8
    sweep = sorted(p.parent.name for p in (out / "dpw_sweep").rglob("seed_000.json"))
    assert sweep == ["all_data", "baseline", "drip:dpw=0.2", "drip:dpw=0.4", "random:dpw=0.2", "random:dpw=0.4"]
    # rerunning finds every cell done and recomputes nothing
    before = {p: p.stat().st_mtime_ns for p in out.rglob("seed_*.json")}
    assert main(argv) == 0
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("seed_*.json")}


@pytest.mark.slow
def test_tiny_transfer_protocol_on_pretrained_lite0(tmp_path):
    """The fashion-effnet path on 300 images: frozen pretrained trunk once, tails trained."""
    pytest.importorskip("efficientnet_lite_pytorch")
    import torch

    from edgesieve.data import DataBundle, dataset_spec, load_fashion_mnist_numpy
    from edgesieve.experiments.protocol import ProtocolConfig, run_protocol
    from edgesieve.models.effnet_lite import Lite0Trunk, grey_to_lite0_input
    from edgesieve.models.registry import model_factory

    try:
        x, y = load_fashion_mnist_numpy("train")
        xt, yt = load_fashion_mnist_numpy("test")
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST not fetched")
    trunk = Lite0Trunk()
    with torch.no_grad():
        feats = trunk(grey_to_lite0_input(torch.from_numpy(x[:300]))).numpy()
        feats_test = trunk(grey_to_lite0_input(torch.from_numpy(xt[:100]))).numpy()
    bundle = DataBundle.from_arrays("fashion-effnet", feats, y[:300], feats_test, yt[:100])
    spec = dataset_spec("fashion-effnet")
    cfg = ProtocolConfig(dataset="fashion-effnet", runs=1, epochs=1, batch_size=32, lr=spec.recipe.lr)
    record = run_protocol(bundle, model_factory(spec.model), cfg, tmp_path / "out", progress=False)[0]
    assert record["sizes"]["d1"] == 120 and 0 <= record["by_dpw"]["0.25"]["savings"] < 1


@pytest.mark.slow
def test_both_reproductions_take_a_stream_scenario(tmp_path, capsys):
    from edgesieve.data import load_dataset

    try:
        load_dataset("har")
    except DatasetNotFoundError:
        pytest.skip("har not fetched (run `edgesieve data fetch har`)")
    out = tmp_path / "drip"
    assert main(["reproduce", "drip", "--dataset", "har", "--runs", "1", "--pool", "600", "--epochs", "1",
                 "--stream", "imbalanced:ratio=10", "--no-figures", "--out", str(out), "--no-progress"]) == 0
    (cell,) = (out / "main" / "drip" / "har" / "imbalanced:ratio=10" / "drip").glob("seed_*.json")
    cell = json.loads(cell.read_text())
    assert cell["stream"] == "imbalanced:ratio=10" and cell["metrics"]["sizes"]["d3"] < 0.4 * 600
    titan = tmp_path / "titan"
    assert main(["reproduce", "titan", "--dataset", "har", "--methods", "titan,rs", "--seeds", "1", "--rounds", "4",
                 "--v", "20", "--eval-every", "2", "--calibration", "20", "--repeat-stream",
                 "--stream", "dirichlet:alpha=0.1", "--no-figures", "--out", str(titan), "--no-progress"]) == 0
    assert json.loads((titan / "config.json").read_text())["config"]["stream"] == "dirichlet:alpha=0.1"
    capsys.readouterr()
    assert main(["reproduce", "titan", "--dataset", "har", "--stream", "dirichlet:alpha=0", "--out", str(tmp_path / "bad")]) == 2
    assert "'dirichlet': alpha must be > 0" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_reproduce_titan_writes_the_cells_grid_run_writes(tmp_path, capsys):
    """One code path: the cells of a reproduction are the grid's; `grid run` over the same grid
    finds them all done, and `grid report` reads them."""
    from edgesieve.data import load_dataset

    try:
        load_dataset("har")
    except DatasetNotFoundError:
        pytest.skip("har not fetched (run `edgesieve data fetch har`)")
    out = tmp_path / "titan"
    argv = ["reproduce", "titan", "--dataset", "har", "--methods", "titan,rs", "--seeds", "2", "--rounds", "4", "--v", "20",
            "--eval-every", "2", "--calibration", "20", "--no-figures", "--out", str(out), "--no-progress", "--in-process"]
    assert main(argv) == 0
    cells = sorted(p.relative_to(out).as_posix() for p in out.rglob("seed_*.json"))
    assert cells == [f"titan/har/iid/{m}/seed_00{s}.json" for m in ("rs", "titan") for s in (0, 1)]
    grid = json.loads((out / "config.json").read_text())["grid"]
    assert grid["config"]["iid_stream"] == "shuffled_training_set"
    toml = tmp_path / "same.toml"
    toml.write_text("\n".join([f'protocol = "titan"', 'datasets = ["har"]', 'methods = ["titan", "rs"]', "seeds = 2", "[config]"]
                              + [f"{k} = {json.dumps(v)}" for k, v in grid["config"].items()]))
    capsys.readouterr()
    assert main(["grid", "run", str(toml), "--out", str(out), "--no-progress"]) == 0
    assert "0 done, 4 skipped" in capsys.readouterr().out
    assert main(["grid", "report", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["method"] for r in rows} == {"rs", "titan"}
    # the table is built from the cells
    table = (out / "table.md").read_text()
    assert "| titan |" in table and "| rs |" in table
