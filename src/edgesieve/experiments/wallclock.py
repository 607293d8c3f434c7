"""Wall-clock time-to-accuracy of Titan against RS per execution setting, and where it crosses
over (issue 14), from Titan-protocol grid cells (``experiments/titan_wallclock*.toml``).

Every Titan setting is compared with RS run the way RS is best run: sequentially, nothing to
hide. Per seed, the target is that RS cell's ``last20_accuracy`` (the smoothed curve must reach
it: one lucky evaluation does not count); time is the cumulative round seconds (training plus
selection, never evaluation) at the first evaluation that reaches it.

The model behind the crossover: with t the training step and s the selection per round (coarse
score per arrival x v + fine stage), a sequential round costs t + s and a pipelined one
max(t, s) plus the pipeline's own cost per round (o t: handing the batch and the model snapshot
between the processes, measured by RS run pipelined, whose selection is a random draw). If
Titan needs R times RS's rounds to reach the target, its wall-clock ratio is R (1 + s/t)
sequential and R (max(1, s/t) + o) pipelined, so it pays only below the break-even s/t of
``break_even`` (and never where R >= 1, or R (1 + o) >= 1 pipelined).
"""

from __future__ import annotations

import math
from collections import defaultdict

from edgesieve.data.registry import dataset_spec
from edgesieve.experiments.statistics import first_reach, paired_time_ratio

SEQUENTIAL = "sequential"
PIPELINED = "pipelined"
PIPELINED_SPLIT = "pipelined, cores split"


def setting_of(config: dict) -> str:
    """The execution setting a cell ran in, from its recorded config."""
    if config.get("mode", SEQUENTIAL) == SEQUENTIAL:
        return SEQUENTIAL
    return PIPELINED_SPLIT if config.get("pin_cores") else PIPELINED


def time_to(metrics: dict, target: float) -> tuple[int | None, float | None]:
    """(rounds, seconds) until the smoothed curve first reaches ``target``; (None, None) if never."""
    reached = first_reach(metrics["curve"], metrics["seconds_at_eval"], target)
    return (None, None) if reached is None else reached


def run_length(metrics: dict) -> tuple[int, float]:
    """(rounds, cumulative seconds) at a curve's last evaluation: where a time that never reached
    the target is censored."""
    return int(metrics["curve"][-1][0]), float(metrics["seconds_at_eval"][-1])


def selection_ms_per_round(metrics: dict, v: int) -> float | None:
    """Coarse score per arrival x v + the fine stage, as the cell measured them (None for RS)."""
    coarse, fine = metrics.get("coarse_ms_per_sample"), metrics.get("fine_ms")
    if coarse is None and fine is None:
        return None
    return (coarse or 0.0) * v + (fine or 0.0)


def predicted_ratio(rounds_ratio: float, selection_vs_train: float, setting: str, overhead: float = 0.0) -> float:
    """Wall-clock ratio to RS that the crossover model predicts (see the module docstring).

    >>> predicted_ratio(0.8, 0.5, "sequential"), predicted_ratio(0.8, 0.5, "pipelined, cores split", overhead=0.25)
    (1.2000000000000002, 1.0)
    """
    if setting == SEQUENTIAL:
        return rounds_ratio * (1 + selection_vs_train)
    return rounds_ratio * (max(1.0, selection_vs_train) + overhead)


def break_even(rounds_ratio: float, setting: str, overhead: float = 0.0) -> float | None:
    """The largest selection / training cost ratio at which Titan still reaches the target in
    less wall-clock time than RS; None where it never does (R >= 1, or R (1 + o) >= 1 pipelined).

    >>> break_even(0.5, "sequential"), break_even(0.5, "pipelined", overhead=0.5), break_even(1.1, "pipelined")
    (1.0, 1.5, None)
    """
    if setting == SEQUENTIAL:
        return 1 / rounds_ratio - 1 if rounds_ratio < 1 else None
    return 1 / rounds_ratio - overhead if rounds_ratio * (1 + overhead) < 1 else None


def wallclock_rows(cells: list[dict], reference: str = "rs") -> list[dict]:
    """One row per (data set, model, round shape, method, setting): round time and selection cost
    against RS's sequential round of the same shape (which is the training step plus a random
    pick), the paired ratios of rounds and seconds to RS's level (geometric mean over seeds, 95% t
    interval), and what the crossover model predicts and where it breaks even. The round shape
    is v arrivals into a buffer of ``buffer``: grids that vary it (to move s/t) pair within it."""
    groups: dict = defaultdict(lambda: defaultdict(dict))
    for c in cells:
        model = c["config"].get("model") or dataset_spec(c["dataset"]).model  # at its default, not recorded
        shape = (c["config"]["v"], c["config"].get("buffer", 30))
        groups[(c["dataset"], model, *shape)][(c["method"], setting_of(c["config"]))][c["seed"]] = c
    rows = []
    for (dataset, model, v, buffer), arms in sorted(groups.items()):
        ref = arms.get((reference, SEQUENTIAL))
        if not ref:
            continue
        train_ms = _mean([c["metrics"]["round_ms_mean"] for c in ref.values()])
        targets = {s: c["metrics"]["last20_accuracy"] for s, c in ref.items()}
        ref_times = {s: time_to(c["metrics"], targets[s]) for s, c in ref.items()}
        rs_pipelined = arms.get((reference, PIPELINED_SPLIT)) or arms.get((reference, PIPELINED))
        overhead = (_mean([c["metrics"]["round_ms_mean"] for c in rs_pipelined.values()]) / train_ms - 1
                    if rs_pipelined else 0.0)
        order = lambda kv: (kv[0][0] != reference, kv[0][0], kv[0][1] != SEQUENTIAL, kv[0][1])  # noqa: E731
        for (method, setting), by_seed in sorted(arms.items(), key=order):
            seeds = sorted(s for s in by_seed if s in ref)
            times = [time_to(by_seed[s]["metrics"], targets[s]) for s in seeds]
            ends = [run_length(by_seed[s]["metrics"]) for s in seeds]
            rounds = paired_time_ratio([t[0] for t in times], [ref_times[s][0] for s in seeds],
                                       censored=[e[0] for e in ends])
            seconds = paired_time_ratio([t[1] for t in times], [ref_times[s][1] for s in seeds],
                                        censored=[e[1] for e in ends])
            round_ms = _mean([by_seed[s]["metrics"]["round_ms_mean"] for s in seeds])
            selection = [selection_ms_per_round(by_seed[s]["metrics"], v) for s in seeds]
            selection_ms = _mean(selection) if None not in selection else None
            x = None if selection_ms is None else selection_ms / train_ms
            own_overhead = overhead if setting != SEQUENTIAL else 0.0
            row = {"dataset": dataset, "model": model, "method": method, "setting": setting, "v": v, "buffer": buffer,
                   "seeds": len(seeds),
                   "train_step_ms": train_ms, "round_ms": round_ms, "round_vs_train": round_ms / train_ms,
                   "selection_ms": selection_ms, "selection_vs_train": x, "pipeline_overhead": own_overhead,
                   "rounds_ratio": rounds, "seconds_ratio": seconds,
                   "final_accuracy": _mean([by_seed[s]["metrics"]["final_accuracy"] for s in seeds]),
                   "last20_accuracy": _mean([by_seed[s]["metrics"]["last20_accuracy"] for s in seeds])}
            if method != reference and x is not None and rounds["ratio"] is not None:
                row["predicted_seconds_ratio"] = predicted_ratio(rounds["ratio"], x, setting, own_overhead)
                row["break_even_selection_vs_train"] = break_even(rounds["ratio"], setting, own_overhead)
            rows.append(row)
    return rows


def verdict(seconds_ratio: dict) -> str:
    """"faster than RS" / "slower than RS" when the 95% interval excludes 1, else a tie."""
    low, high = seconds_ratio["ci_low"], seconds_ratio["ci_high"]
    if low is None or high is None:
        return "too few seeds"
    if high < 1:
        return "faster than RS"
    if low > 1:
        return "slower than RS"
    return "tie (interval holds 1)"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
