import math

import pytest

from edgesieve.experiments.titan_protocol import TitanConfig, summarize_titan


def record(curve, seconds_per_round=1.0):
    return {"curve": curve, "seconds_at_eval": [seconds_per_round * r for r, _ in curve],
            "round_seconds_mean": seconds_per_round, "coarse_ms_per_sample": None, "fine_ms": 10.0}


def test_time_to_accuracy_uses_seed_averaged_curves():
    cfg = TitanConfig(dataset="toy", methods=("titan", "rs", "ll"), seeds=2)
    records = {
        # RS: means 0.5, 0.7, 0.8 at rounds 10, 20, 30: target 0.8, reached (by its mean curve) at round 30;
        # seed 1 alone never gets to 0.8, which must not turn the mean into infinity
        "rs_seed0": record([(10, 0.5), (20, 0.8), (30, 0.9)]),
        "rs_seed1": record([(10, 0.5), (20, 0.6), (30, 0.7)]),
        "titan_seed0": record([(10, 0.8), (20, 0.9), (30, 0.95)], seconds_per_round=2.0),
        "titan_seed1": record([(10, 0.8), (20, 0.85), (30, 0.9)], seconds_per_round=2.0),
        "ll_seed0": record([(10, 0.1), (20, 0.1), (30, 0.1)]),
        "ll_seed1": record([(10, 0.1), (20, 0.2), (30, 0.2)]),
    }
    s = summarize_titan(records, cfg)
    assert s["target_accuracy"] == pytest.approx(0.8)
    rs, titan, ll = (s["methods"][m] for m in ("rs", "titan", "ll"))
    assert rs["rounds_to_target"] == 30 and rs["tta_rounds_vs_rs"] == 1.0 and rs["seeds_reaching_target"] == 1
    assert titan["rounds_to_target"] == 10 and titan["tta_rounds_vs_rs"] == pytest.approx(1 / 3)
    assert titan["tta_seconds_vs_rs"] == pytest.approx(20 / 30)  # 10 rounds at 2 s against 30 rounds at 1 s
    assert titan["minus_rs"][0] == pytest.approx(100 * (0.925 - 0.8)) and titan["wins_vs_rs"] == 2
    assert math.isinf(ll["tta_rounds_vs_rs"]) and ll["seeds_reaching_target"] == 0
    assert titan["delay_ms_per_sample"] == {"coarse": 0.0, "fine": 0.1}
    assert titan["verdict"] == "does not beat RS (difference within noise)" and rs["verdict"] == "—"
