"""The wall-clock comparison of Titan with RS (issue 14) on hand-made cells: paired ratios of
rounds and seconds to RS's level, the crossover model, the figure."""

import math

import pytest

from edgesieve.experiments.wallclock import (PIPELINED, PIPELINED_SPLIT, SEQUENTIAL, break_even, predicted_ratio,
                                             setting_of, wallclock_rows)


def cell(method, seed, accuracies, round_ms, mode="sequential", pin=False, coarse=None, fine=None, v=100, buffer=30):
    curve = [[5 * (i + 1), a] for i, a in enumerate(accuracies)]
    seconds = [round_ms / 1000 * r for r, _ in curve]
    config = {"v": v, "buffer": buffer, "mode": mode, "model": "har_mlp", **({"pin_cores": True} if pin else {})}
    metrics = {"curve": curve, "seconds_at_eval": seconds, "round_ms_mean": round_ms, "last20_accuracy": accuracies[-1],
               "final_accuracy": accuracies[-1], "coarse_ms_per_sample": coarse, "fine_ms": fine}
    return {"dataset": "har", "method": method, "seed": seed, "config": config, "metrics": metrics}


def test_settings_are_read_from_the_recorded_config():
    assert setting_of({"mode": "sequential"}) == SEQUENTIAL and setting_of({}) == SEQUENTIAL
    assert setting_of({"mode": "pipelined"}) == PIPELINED
    assert setting_of({"mode": "pipelined", "pin_cores": True}) == PIPELINED_SPLIT


def test_rows_pair_each_seed_with_rs_sequential_and_match_a_hand_computation():
    # RS (10 ms rounds) reaches its own level 0.8 at round 20 (smoothed: 0.35, 0.53, 0.77, 0.9, ...)
    rs = [cell("rs", s, [0.2, 0.5, 0.9, 0.9, 0.9, 0.8], 10.0) for s in range(3)]
    rs_pipe = [cell("rs", s, [0.2, 0.5, 0.9, 0.9, 0.9, 0.8], 12.0, "pipelined", True) for s in range(3)]
    # Titan reaches 0.8 (smoothed 0.875) at round 5 on seeds 0 and 1, never on seed 2; 25 ms rounds; s = 0.1 x 100 + 5 = 15 ms
    titan = [cell("titan", 0, [0.85, 0.9, 0.9, 0.9, 0.9, 0.9], 25.0, coarse=0.1, fine=5.0),
             cell("titan", 1, [0.85, 0.9, 0.9, 0.9, 0.9, 0.9], 25.0, coarse=0.1, fine=5.0),
             cell("titan", 2, [0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 25.0, coarse=0.1, fine=5.0)]
    rows = {(r["method"], r["setting"]): r for r in wallclock_rows(rs + rs_pipe + titan)}
    ref = rows[("rs", SEQUENTIAL)]
    assert ref["train_step_ms"] == 10.0 and ref["rounds_ratio"]["ratio"] == pytest.approx(1.0)
    t = rows[("titan", SEQUENTIAL)]
    assert t["rounds_ratio"]["ratio"] == pytest.approx(0.25) and t["rounds_ratio"]["n"] == 2 and t["rounds_ratio"]["missing"] == 1
    assert t["seconds_ratio"]["ratio"] == pytest.approx(0.25 * 25 / 10)
    # seed 2 never reaches: counted at its run's end (round 30, 0.75 s against RS's 20 and 0.2 s), a lower bound
    assert t["rounds_ratio"]["at_least"] == pytest.approx((0.25 * 0.25 * 1.5) ** (1 / 3))
    assert t["seconds_ratio"]["at_least"] == pytest.approx((0.625 * 0.625 * 3.75) ** (1 / 3))
    assert t["selection_ms"] == pytest.approx(15.0) and t["selection_vs_train"] == pytest.approx(1.5)
    assert t["round_vs_train"] == pytest.approx(2.5)
    assert t["predicted_seconds_ratio"] == pytest.approx(0.25 * 2.5)
    assert t["break_even_selection_vs_train"] == pytest.approx(3.0)
    assert rows[("rs", PIPELINED_SPLIT)]["round_vs_train"] == pytest.approx(1.2)


def test_the_crossover_model():
    assert predicted_ratio(1.0, 0.0, SEQUENTIAL) == 1.0
    assert predicted_ratio(0.5, 3.0, PIPELINED_SPLIT, overhead=0.2) == pytest.approx(0.5 * (3 + 0.2))
    assert predicted_ratio(0.5, 0.3, PIPELINED_SPLIT, overhead=0.2) == pytest.approx(0.6)  # selection fully hidden
    assert break_even(1.0, SEQUENTIAL) is None and break_even(0.9, PIPELINED, overhead=0.2) is None
    assert break_even(0.25, PIPELINED_SPLIT, overhead=0.0) == 4.0 and break_even(0.25, PIPELINED, overhead=1.0) == 3.0
    # at the break-even the predicted ratio is exactly 1
    for setting, r, o in [(SEQUENTIAL, 0.6, 0.0), (PIPELINED_SPLIT, 0.6, 0.1)]:
        assert predicted_ratio(r, break_even(r, setting, o), setting, o) == pytest.approx(1.0)


def test_the_crossover_figure_is_written(tmp_path):
    from edgesieve.experiments.titan_figures import wallclock_crossover

    rs = [cell("rs", s, [0.2, 0.5, 0.8, 0.8], 10.0) for s in range(3)]
    titan = [cell("titan", s, [0.7, 0.8, 0.9, 0.9], 25.0 + s, coarse=0.1, fine=5.0) for s in range(3)]
    path = wallclock_crossover(wallclock_rows(rs + titan), tmp_path / "crossover.png")
    assert path.exists() and path.stat().st_size > 1000 and math.isfinite(path.stat().st_size)


def test_round_shapes_pair_only_within_themselves():
    """A grid that varies v and the buffer (to move s/t) compares each Titan cell with RS of
    its own round shape: RS at v = 40 is the reference of Titan at v = 40, not RS at v = 100."""
    acc = [0.2, 0.5, 0.9, 0.9, 0.9, 0.8]
    cells = ([cell("rs", s, acc, 10.0) for s in range(2)] + [cell("titan", s, acc, 30.0, coarse=0.1, fine=5.0) for s in range(2)]
             + [cell("rs", s, acc, 20.0, v=40, buffer=15) for s in range(2)]
             + [cell("titan", s, acc, 30.0, coarse=0.1, fine=2.0, v=40, buffer=15) for s in range(2)])
    rows = {(r["method"], r["v"], r["buffer"]): r for r in wallclock_rows(cells)}
    assert set(rows) == {("rs", 100, 30), ("titan", 100, 30), ("rs", 40, 15), ("titan", 40, 15)}
    assert rows[("titan", 100, 30)]["seconds_ratio"]["ratio"] == pytest.approx(3.0)
    assert rows[("titan", 40, 15)]["seconds_ratio"]["ratio"] == pytest.approx(1.5)
    assert rows[("titan", 40, 15)]["selection_vs_train"] == pytest.approx((0.1 * 40 + 2.0) / 20.0)
