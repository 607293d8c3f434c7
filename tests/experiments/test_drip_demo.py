import json

import pytest
import torch

from edgesieve.data import load_mnist
from edgesieve.errors import DatasetNotFoundError
from edgesieve.experiments.drip_demo import DemoConfig, format_table, run_demo
from edgesieve.experiments.training import accuracy_and_macro_f1


def test_config_validation():
    for bad in ({"runs": 0}, {"pool": 10}, {"dpw": 1.0}):
        with pytest.raises(ValueError):
            DemoConfig(**bad)


def test_macro_f1_hand_case():
    acc, f1 = accuracy_and_macro_f1(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 1]), 3)
    assert acc == 0.5
    # class 0: P=1/2 R=1 F1=2/3; class 1: P=1 R=1/3 F1=1/2; class 2: P=0 F1=0
    assert f1 == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


@pytest.mark.slow
def test_demo_end_to_end_on_real_mnist(tmp_path):
    try:
        load_mnist("test")
    except DatasetNotFoundError:
        pytest.skip("MNIST not fetched (run `edgesieve data fetch mnist`)")
    rows = run_demo(DemoConfig(pool=600, runs=2, epochs=1), tmp_path, progress=False)
    assert len(rows) == 2
    for row in rows:
        assert 0 < row["retained"] <= row["d3"] and 0 <= row["savings"] < 1
        assert all(0 <= row[f"{arm}_acc"] <= 1 for arm in ("baseline", "all_data", "drip", "random"))
    saved = json.loads((tmp_path / "runs.json").read_text())
    assert saved == rows and json.loads((tmp_path / "config.json").read_text())["config"]["pool"] == 600
    table = format_table(rows)
    assert "DRIP - random" in table and "+-" in table
