"""How much DRIP's windows depend on the calibration sample, on real data, and whether the
calibration report's estimate (``DripSelector.split_half_agreement_``) says so:

    python benchmarks/bench_window_agreement.py [--seeds 3]   # writes benchmarks/results/window_agreement.{json,md}

Per data set and seed, in the DRIP protocol's own setting (``experiments/evidence_drip.toml``,
iid stream, DPW 25%): the baseline is trained on D1, then DRIP is calibrated on all of D2 (its
report's split-half agreement: windows fitted on two random halves of D2, the share of D2 they
decide alike, over 200 splits) and on each half of one random split of D2 separately (A and B).
Measured: the share of D3's points, new data, that A and B decide alike; the report's
in-sample estimate should predict it. It is an estimate at half the calibration size, so on the
safe side; and FSDD and HAR split their pools by speaker and by recording, so their D3 is other
people's data, whose scores fall outside both windows more often than D2's own do.
"""

from __future__ import annotations

import argparse
import json
import platform
import warnings
from pathlib import Path

import numpy as np

from edgesieve.data import dataset_spec, load_dataset
from edgesieve.experiments.grid.spec import load_grid
from edgesieve.experiments.protocol import RunContext, prepare_run
from edgesieve.models.registry import model_factory
from edgesieve.selectors import DripSelector

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATASETS = ("mnist", "fashion", "fsdd", "har")
SPLITS, DPW = 200, 0.25


def calibrated(model, x, y, splits: int = SPLITS) -> DripSelector:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes without thresholds are in the report
        return DripSelector(model, dpw=DPW, agreement_splits=splits).calibrate(x, y)


def measure(dataset: str, seed: int) -> dict:
    cfg = load_grid(ROOT / "experiments" / "evidence_drip.toml").drip_config(dataset, "iid")
    ctx = RunContext(load_dataset(dataset), model_factory(dataset_spec(dataset).model), cfg, progress=False)
    r = prepare_run(ctx, seed)
    baseline = ctx.fit(r.x1, r.y1, r.seed, "baseline").eval()
    d2 = np.random.default_rng([seed, 31]).permutation(r.d2)
    half_a, half_b = d2[: len(d2) // 2], d2[len(d2) // 2:]
    whole = calibrated(baseline, ctx.x[r.d2], r.y[r.d2])
    a, b = (calibrated(baseline, ctx.x[h], r.y[h], splits=0) for h in (half_a, half_b))
    keep_a, keep_b = (s.decide(r.x3).keep.numpy() for s in (a, b))
    return {"dataset": dataset, "seed": seed, "d2": len(r.d2), "d3": len(r.x3),
            "split_half_agreement_d2": whole.split_half_agreement_,
            "agreement_a_vs_b_d3": float((keep_a == keep_b).mean()),
            "classes_without_window": len(a.uncalibrated_classes_)}


def table(rows: list[dict]) -> str:
    lines = ["| data set | seeds | D2 | report: split-half agreement on D2 (in-sample) | "
             "measured: A and B alike on D3 (new data) |", "|---|---:|---:|---:|---:|"]
    for d in DATASETS:
        rs = [r for r in rows if r["dataset"] == d]
        if not rs:
            continue
        mean = lambda k: 100 * float(np.mean([r[k] for r in rs]))  # noqa: E731
        spread = lambda k: 100 * float(np.std([r[k] for r in rs]))  # noqa: E731
        lines.append(f"| {d} | {len(rs)} | {rs[0]['d2']} | {mean('split_half_agreement_d2'):.1f}% (± {spread('split_half_agreement_d2'):.1f}) | "
                     f"{mean('agreement_a_vs_b_d3'):.1f}% (± {spread('agreement_a_vs_b_d3'):.1f}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    rows = [measure(d, s) for d in args.datasets.split(",") for s in range(args.seeds)]
    text = "\n".join([
        "# DRIP's windows against their calibration sample", "",
        f"Command: `python benchmarks/bench_window_agreement.py --seeds {args.seeds}`; {platform.platform()}. "
        f"DRIP at DPW {DPW:.0%} in the DRIP protocol's setting (`experiments/evidence_drip.toml`, iid), its baseline "
        "trained on D1 per seed. Report: `DripSelector.split_half_agreement_` of DRIP calibrated on all of D2 (windows "
        f"fitted on two random halves of D2, the share of D2's points they decide alike, {SPLITS} splits). Measured: DRIP "
        "calibrated on either half of one random split of D2 (A and B), the share of D3 they decide alike. Means over "
        "seeds, ± their standard deviation. The report's number is measured at half the calibration size (on the safe "
        "side); FSDD and HAR split their pools by speaker and by recording, so their D3 is other people's data, which "
        "falls outside both windows more often than D2's own points do.", "", table(rows), ""])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "window_agreement.json").write_text(json.dumps(rows, indent=1))
    (RESULTS / "window_agreement.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
