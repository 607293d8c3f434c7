"""``edgesieve reproduce titan``: every method on the same seeded streams, several seeds,
accuracy curves, time-to-accuracy normalised to random selection (RS), per-stage timings and
the selector's memory. A thin front-end over the grid: each (method, seed) is one cell of the
Titan protocol at ``<out>/titan/<dataset>/<stream>/<method>/seed_NNN.json``, as ``grid run``
writes it (rerunning resumes; ``grid report`` reads them); table, summary and figures are built
from the cells. On the iid stream the rounds draw a seeded shuffle of the whole training set,
the paper's setting (grid setting ``iid_stream = "shuffled_training_set"``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from edgesieve.experiments.grid.runner import prepare_results_folder, run_grid_or_in_process
from edgesieve.experiments.grid.spec import Grid
from edgesieve.experiments.online import LATE_OPTIONS, OnlineConfig
from edgesieve.experiments.results_dir import identity_hash
from edgesieve.experiments.statistics import format_difference, t_interval, verdict
from edgesieve.experiments.summary import mean_std
from edgesieve.selectors.batch import list_batch_methods
from edgesieve.state.files import atomic_write_text
from edgesieve.streams import parse_streams


@dataclass(frozen=True)
class TitanConfig:
    dataset: str
    methods: tuple[str, ...] = ("titan", "rs", "is", "hl", "ll", "ce", "ocs", "camel")
    seeds: int = 3
    online: OnlineConfig = OnlineConfig()
    stream: str = "iid"  # the stream scenario the rounds draw from (edgesieve.streams)

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in list_batch_methods()]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; available: {', '.join(list_batch_methods())}")
        if "rs" not in self.methods:
            raise ValueError("time-to-accuracy is normalised to RS: include rs in the methods")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        parse_streams(self.stream)

    def to_json(self) -> dict:
        d = asdict(self)
        d["methods"] = list(self.methods)
        return d

    def identity_hash(self) -> str:
        d = self.to_json()
        d.pop("seeds"), d.pop("methods")  # more seeds or methods extend an experiment
        if d["stream"] == "iid":
            d.pop("stream")  # added later: iid experiments made before it keep their identity
        for key, default in LATE_OPTIONS.items():
            if d["online"].get(key) == default:
                d["online"].pop(key)
        return identity_hash(d)

    @classmethod
    def from_json(cls, d: dict) -> "TitanConfig":
        """The config a results folder's config.json records (``to_json`` read back)."""
        return cls(dataset=d["dataset"], methods=tuple(d["methods"]), seeds=d["seeds"], online=OnlineConfig(**d["online"]),
                   stream=d.get("stream", "iid"))


def titan_grid(cfg: TitanConfig) -> Grid:
    """The grid of Titan-protocol cells behind one ``reproduce titan`` (seeds 0..seeds-1)."""
    defaults = OnlineConfig()
    config = {f.name: getattr(cfg.online, f.name) for f in fields(OnlineConfig)
              if f.name not in ("method", "seed") and getattr(cfg.online, f.name) != getattr(defaults, f.name)}
    if cfg.stream == "iid":
        config["iid_stream"] = "shuffled_training_set"
    return Grid("titan", (cfg.dataset,), (cfg.stream,), cfg.methods, tuple(range(cfg.seeds)), config)


def titan_records(grid: Grid, out: Path) -> dict:
    """The runs of a Titan-protocol grid, keyed ``<method>_seed<s>``, as the summary reads them."""
    records = {}
    for cell in grid.cells():
        m = json.loads(cell.path(out).read_text())["metrics"]
        records[f"{cell.method}_seed{cell.seed}"] = {
            "method": cell.method, "seed": cell.seed, "curve": m["curve"], "seconds_at_eval": m["seconds_at_eval"],
            "round_seconds_mean": m["round_ms_mean"] / 1000, "coarse_ms_per_sample": m["coarse_ms_per_sample"],
            "fine_ms": m["fine_ms"]}
    return records


def run_titan(cfg: TitanConfig, out, *, progress: bool = True, figures: bool = True, num_cpus: int | None = None,
              address: str | None = None, in_process: bool | None = None) -> dict:
    """Run (or resume) every (method, seed) of ``cfg`` as grid cells into ``out``; write the
    summary, table and figures; returns the summary."""
    out = Path(out)
    grid = titan_grid(cfg)
    prepare_results_folder(out, grid, cfg)
    run_grid_or_in_process(grid, out, num_cpus=num_cpus, address=address, progress=progress, in_process=in_process)
    records = titan_records(grid, out)
    summary = write_titan_summary(records, cfg, out)
    if figures:
        titan_figures(records, summary, cfg, out / "figures")
    return summary


def write_titan_summary(records: dict, cfg: TitanConfig, folder: Path) -> dict:
    """summary.json and table.md from the runs' records; returns the summary."""
    summary = summarize_titan(records, cfg)
    atomic_write_text(folder / "summary.json", json.dumps(_json_safe(summary), indent=1))
    atomic_write_text(folder / "table.md", format_titan_table(summary, cfg) + "\n")
    return summary


def titan_figures(records: dict, summary: dict, cfg: TitanConfig, folder: Path) -> list[Path]:
    from edgesieve.experiments import titan_figures as figures

    folder.mkdir(parents=True, exist_ok=True)
    curves = {m: [records[f"{m}_seed{s}"]["curve"] for s in range(cfg.seeds)] for m in cfg.methods}
    what = f"{cfg.dataset}: v={cfg.online.v}, buffer {cfg.online.buffer}, batch {cfg.online.batch}, {cfg.seeds} seed(s)"
    delays = {m: (summary["methods"][m]["delay_ms_per_sample"]["coarse"], summary["methods"][m]["delay_ms_per_sample"]["fine"])
              for m in cfg.methods}
    return [
        figures.accuracy_versus_round(curves, summary["target_accuracy"], what, folder / "accuracy_vs_round.png"),
        figures.delay_per_method(delays, what, folder / "delay_per_sample.png"),
    ]


def _json_safe(value):
    """Infinity (target never reached) becomes null: the files stay strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _seconds_at(record: dict, round_: float) -> float:
    """Cumulative training seconds at an evaluated round."""
    return record["seconds_at_eval"][[r for r, _ in record["curve"]].index(int(round_))]


def _rounds_to(curve, target: float) -> float:
    for r, acc in curve:
        if acc >= target:
            return r
    return math.inf


def mean_curve(recs: list[dict]) -> list[tuple[int, float]]:
    """The accuracy curve averaged over seeds (every seed evaluates at the same rounds)."""
    rounds = [r for r, _ in recs[0]["curve"]]
    acc = np.mean([[a for _, a in rec["curve"]] for rec in recs], axis=0)
    return list(zip(rounds, acc.tolist()))


def summarize_titan(records: dict, cfg: TitanConfig) -> dict:
    """Per method: final accuracy, its paired difference to RS, and time-to-accuracy.

    Time-to-accuracy (the paper's metric): the first evaluated round at which the method's
    seed-averaged accuracy curve reaches the target, RS's mean final accuracy, divided by the
    same for RS (whose mean curve reaches it at the last round at the latest); wall-clock: the
    seeds' mean cumulative seconds at that round. Averaging curves first keeps one seed that
    never gets there from turning the mean into infinity; ``seeds_reaching_target`` still
    counts the seeds that reach the target on their own curve.
    """
    rs_recs = [records[f"rs_seed{s}"] for s in range(cfg.seeds)]
    rs_finals = [100 * r["curve"][-1][1] for r in rs_recs]
    target = float(np.mean([r["curve"][-1][1] for r in rs_recs]))
    out = {"target_accuracy": target, "methods": {}}
    for method in cfg.methods:
        recs = [records[f"{method}_seed{s}"] for s in range(cfg.seeds)]
        finals = [100 * r["curve"][-1][1] for r in recs]
        diffs = [a - b for a, b in zip(finals, rs_finals)]  # paired by seed: same stream, same initial model
        rounds = _rounds_to(mean_curve(recs), target - 1e-12)
        secs = float(np.mean([_seconds_at(r, rounds) for r in recs])) if math.isfinite(rounds) else math.inf
        out["methods"][method] = {
            "final_acc": mean_std(finals),
            "minus_rs": mean_std(diffs),
            "minus_rs_ci95": list(t_interval(diffs)),
            "wins_vs_rs": sum(d > 0 for d in diffs),
            "verdict": "—" if method == "rs" else verdict(diffs, "RS"),
            "delay_ms_per_sample": {"coarse": float(np.mean([r["coarse_ms_per_sample"] or 0.0 for r in recs])),
                                    "fine": float(np.mean([r["fine_ms"] or 0.0 for r in recs])) / cfg.online.v},
            "rounds_to_target": rounds,
            "seconds_to_target": secs,
            "seeds_reaching_target": sum(math.isfinite(_rounds_to(r["curve"], target)) for r in recs),
            "round_ms": mean_std([1000 * r["round_seconds_mean"] for r in recs]),
        }
    rs = out["methods"]["rs"]
    for m in out["methods"].values():
        m["tta_rounds_vs_rs"] = m["rounds_to_target"] / rs["rounds_to_target"]
        m["tta_seconds_vs_rs"] = m["seconds_to_target"] / rs["seconds_to_target"]
    return out


def format_titan_table(summary: dict, cfg: TitanConfig) -> str:
    lines = [
        f"**{cfg.dataset}**, {cfg.seeds} seed(s), {cfg.online.rounds} rounds of v={cfg.online.v}, buffer {cfg.online.buffer}, "
        f"batch {cfg.online.batch}, mode {cfg.online.mode}; target = RS's mean final accuracy {100 * summary['target_accuracy']:.2f}%",
        "",
        "| method | final accuracy % | − RS (paired) [95% CI] | wins | verdict | time-to-accuracy vs RS (rounds) | (wall-clock) | "
        "seeds reaching target | round ms | selection ms per sample (coarse + fine) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in summary["methods"].items():
        tta = "not reached" if not math.isfinite(m["tta_rounds_vs_rs"]) else f"{m['tta_rounds_vs_rs']:.2f}x"
        ttas = "not reached" if not math.isfinite(m["tta_seconds_vs_rs"]) else f"{m['tta_seconds_vs_rs']:.2f}x"
        d = m["delay_ms_per_sample"]
        diff = "—" if name == "rs" else format_difference(m["minus_rs"][0], m["minus_rs_ci95"])
        wins = "—" if name == "rs" else f"{m['wins_vs_rs']}/{cfg.seeds}"
        lines.append(f"| {name} | {m['final_acc'][0]:.2f} ± {m['final_acc'][1]:.2f} | {diff} | {wins} | {m['verdict']} | {tta} | {ttas} | "
                     f"{m['seeds_reaching_target']}/{cfg.seeds} | {m['round_ms'][0]:.1f} | {d['coarse'] + d['fine']:.3f} ({d['coarse']:.3f} + {d['fine']:.3f}) |")
    return "\n".join(lines)
