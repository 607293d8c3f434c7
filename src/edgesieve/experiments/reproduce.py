"""``edgesieve reproduce drip``: the paper's table, the DPW sweep and the label-noise sweep on
one data set, with figures and a Markdown report: a thin front-end over the grid's cells.

Each table is one grid of the DRIP protocol (``edgesieve grid``): ``<out>/main``,
``<out>/dpw_sweep`` (methods ``drip:dpw=F``: every DPW of a seed from one run, the baseline
shared) and ``<out>/noise_<level>``, each holding its cells at
``<protocol>/<dataset>/<stream>/<method>/seed_NNN.json`` as ``grid run`` writes them (rerunning
resumes, and ``grid report`` reads them), plus ``table.md``, ``summary.json`` and ``config.json``
built from the cells. The figures need run 0's models: they are rebuilt in this process (one
baseline training, the same seed, so the same model as the cell's).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from edgesieve.data import dataset_spec, load_dataset
from edgesieve.data.cache import data_home_for_workers
from edgesieve.experiments.grid.runner import prepare_results_folder, run_grid_or_in_process
from edgesieve.experiments.grid.spec import Grid, GridError, drip_method
from edgesieve.experiments.protocol import ProtocolConfig, RunContext, save_figure_artifacts
from edgesieve.experiments.summary import PAPER_TABLE_I, summarize, write_summary
from edgesieve.models.registry import model_factory


def drip_grids(base: ProtocolConfig, *, dpw_sweep: tuple[float, ...] = (), noise_sweep: tuple[float, ...] = (),
               sweep_runs: int | None = None) -> dict[str, tuple[Grid, ProtocolConfig]]:
    """The grids behind ``reproduce drip`` (folder -> (grid, the config its table is labelled
    with)): the main table, the DPW sweep and one per label-noise level."""
    if base.selector == "random":  # its arm would be the random arm's namesake
        raise GridError("--selector random: the protocol's random arm is already random at the selector's count; "
                        "choose a per-point selector (`edgesieve selectors`: drip)")
    config = {"dpw": base.dpws[0], "epochs": base.epochs, "batch_size": base.batch_size, "lr": base.lr}
    if base.pool is not None:
        config["pool"] = base.pool
    arms = ("baseline", "all_data")
    seeds = tuple(range(base.seed, base.seed + base.runs))
    sweep_seeds = tuple(range(base.seed, base.seed + (sweep_runs or base.runs)))
    swept = replace(base, runs=len(sweep_seeds))
    out = {"main": (Grid("drip", (base.dataset,), (base.stream,), (base.selector, "random") + arms, seeds, config), base)}
    if dpw_sweep:
        methods = tuple(f"{m}:dpw={d:g}" for d in dpw_sweep for m in (base.selector, "random")) + arms
        out["dpw_sweep"] = (Grid("drip", (base.dataset,), (base.stream,), methods, sweep_seeds, config),
                            replace(swept, dpws=tuple(dpw_sweep)))
    for level in noise_sweep:
        out[f"noise_{level:g}"] = (Grid("drip", (base.dataset,), (base.stream,), (base.selector, "random") + arms,
                                        sweep_seeds, {**config, "label_noise": level}), replace(swept, label_noise=level))
    return out


def drip_records(grid: Grid, out: Path) -> list[dict]:
    """The runs of one DRIP-protocol grid as ``summarize`` reads them, rebuilt from its cells."""
    (dataset,), (stream,) = grid.datasets, grid.streams
    records = []
    for i, seed in enumerate(grid.seeds):
        cells = {c.method: json.loads(c.path(out).read_text())["metrics"] for c in grid.cells() if c.seed == seed}
        record = {"run": i, "seed": seed, "stream": stream, "sizes": cells["baseline"]["sizes"],
                  "baseline": _acc_f1(cells["baseline"]), "all_data": _acc_f1(cells["all_data"]), "by_dpw": {}}
        for method, metrics in cells.items():
            name = drip_method(method)[0]
            if name in ("baseline", "all_data", "random"):
                continue
            random = cells["random" + method[len(name):]]
            entry = {k: v for k, v in metrics.items() if k not in ("test_accuracy", "macro_f1", "sizes")}
            entry.update(selector=_acc_f1(metrics), random=_acc_f1(random))
            record["by_dpw"][f"{grid.dpw(dataset, method):g}"] = entry
        record["by_dpw"] = dict(sorted(record["by_dpw"].items(), key=lambda kv: float(kv[0])))
        records.append(record)
    return records


def _acc_f1(metrics: dict) -> dict:
    return {"acc": metrics["test_accuracy"], "f1": metrics["macro_f1"]}


def reproduce_drip(
    dataset: str,
    out: str | Path,
    *,
    runs: int = 5,
    sweep_runs: int | None = None,
    dpw: float = 0.25,
    dpw_sweep: tuple[float, ...] = (),
    noise_sweep: tuple[float, ...] = (),
    selector: str = "drip",
    pool: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    stream: str = "iid",
    root=None,
    progress: bool = True,
    figures: bool = True,
    num_cpus: int | None = None,
    address: str | None = None,
    in_process: bool | None = None,
) -> Path:
    """Run the main protocol (and the sweeps asked for) into ``out``; returns the report path.
    ``stream``: the stream scenario D3 arrives as (``edgesieve streams``); the label-noise sweep
    is an iid experiment (on a stream, use the ``label-noise`` scenario instead). The runs are
    grid cells on Ray (``num_cpus``, ``address`` as ``grid run`` takes them; in this process
    where Ray is not installed or ``in_process``)."""
    out = Path(out)
    spec = dataset_spec(dataset)
    recipe, model = spec.recipe, model_factory(spec.model)
    base = ProtocolConfig(  # validates every option before any data is read
        dataset=dataset, runs=runs, dpws=(dpw,), selector=selector, epochs=epochs or recipe.epochs,
        batch_size=recipe.batch_size, lr=recipe.lr, seed=seed, pool=pool, stream=stream,
    )
    swept = replace(base, runs=sweep_runs or runs)
    if dpw_sweep:
        replace(swept, dpws=tuple(dpw_sweep))  # a sweep that cannot run fails before the main table runs
    for level in noise_sweep:
        replace(swept, label_noise=level)
    grids = drip_grids(base, dpw_sweep=dpw_sweep, noise_sweep=noise_sweep, sweep_runs=sweep_runs)
    engine = dict(num_cpus=num_cpus, address=address, progress=progress, in_process=in_process)
    with data_home_for_workers(root):  # the cells load the data set in their own process: they find it there
        bundle = load_dataset(dataset, root)
        sections, summaries = _tables(grids, out, bundle, engine)
        figure_files = []
        if figures:
            art = out / "main" / "artifacts"
            if not (art / f"d3_dpw{base.dpws[0]:g}.npz").exists():
                save_figure_artifacts(RunContext(bundle, model, replace(base, seed=0), progress=progress), base.seed, art)
            noise = {float(k[len("noise_"):]): v for k, v in summaries.items() if k.startswith("noise_")}
            figure_files = make_figures(out, bundle, base, model, summaries.get("dpw_sweep"), noise or None)
    return write_report(out, base, sections, figure_files)


def _tables(grids: dict, out: Path, bundle, engine: dict) -> tuple[list, dict]:
    """Run (or resume) each grid into its folder and write its table from the cells."""
    sections, summaries = [], {}
    titles = {"main": "Main protocol", "dpw_sweep": "Accuracy versus DPW"}
    for folder_name, (grid, cfg) in grids.items():
        folder = out / folder_name
        prepare_results_folder(folder, grid, cfg)
        run_grid_or_in_process(grid, folder, **engine)
        summaries[folder_name] = summarize(drip_records(grid, folder), cfg)
        write_summary(folder, cfg, summaries[folder_name], bundle.note)
        sections.append((titles.get(folder_name) or f"Label noise {cfg.label_noise:.0%}", (folder / "table.md").read_text()))
    return sections, summaries


def make_figures(out: Path, bundle, cfg, model_factory, sweep_summary, noise_summaries) -> list[tuple[str, Path]]:
    from edgesieve.experiments import figures as F

    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    files = []
    art = out / "main" / "artifacts"
    tag = f"dpw{cfg.dpws[0]:g}"
    state = art / f"{cfg.selector}_{tag}.json"
    if (art / f"calibration_{tag}.npz").exists() and state.exists():
        files.append(("Per-class DRIP-score histograms with the discard window (run 0)",
                      F.score_histograms(art / f"calibration_{tag}.npz", state, bundle.classes, fig_dir / "score_histograms.png")))
        files.append(("Grad-CAM of retained and discarded production samples (run 0)", _overlays(art, tag, state, bundle, model_factory, fig_dir)))
    if sweep_summary is not None:
        xs = [100 * float(d) for d in sweep_summary["by_dpw"]]
        rows = list(sweep_summary["by_dpw"].values())
        series = {
            cfg.selector: ([r["selector"]["acc"][0] for r in rows], [r["selector"]["acc"][1] for r in rows]),
            "random (same size)": ([r["random"]["acc"][0] for r in rows], [r["random"]["acc"][1] for r in rows]),
            "all-data": ([sweep_summary["all_data"]["acc"][0]] * len(xs), [sweep_summary["all_data"]["acc"][1]] * len(xs)),
            "baseline": ([sweep_summary["baseline"]["acc"][0]] * len(xs), [sweep_summary["baseline"]["acc"][1]] * len(xs)),
        }
        files.append(("Accuracy versus DPW", F.accuracy_versus(xs, series, "DPW (%)", f"{cfg.dataset}: accuracy versus DPW", fig_dir / "accuracy_vs_dpw.png")))
    if noise_summaries:
        levels = sorted(noise_summaries)
        rows = [list(noise_summaries[l]["by_dpw"].values())[0] for l in levels]
        series = {
            f"filtered ({cfg.selector})": ([r["selector"]["acc"][0] for r in rows], [r["selector"]["acc"][1] for r in rows]),
            "unfiltered (all data)": ([noise_summaries[l]["all_data"]["acc"][0] for l in levels], [noise_summaries[l]["all_data"]["acc"][1] for l in levels]),
            "random (same size)": ([r["random"]["acc"][0] for r in rows], [r["random"]["acc"][1] for r in rows]),
        }
        files.append(("Accuracy versus label noise", F.accuracy_versus([100 * l for l in levels], series, "label noise in D1 and D3 (%)",
                                                                       f"{cfg.dataset}: accuracy versus label noise", fig_dir / "accuracy_vs_noise.png")))
    return files


def _overlays(art: Path, tag: str, state: Path, bundle, model_factory, fig_dir: Path) -> Path:
    from edgesieve.experiments import figures as F
    from edgesieve.models import load_weights
    from edgesieve.selectors import load_selector

    model = model_factory()
    load_weights(model, art / "baseline.safetensors")
    selector = load_selector(state, model.eval())
    d3 = np.load(art / f"d3_{tag}.npz")
    pick = d3["index"][:400]
    keep = d3["keep"][:400]
    result = selector.explain(torch.from_numpy(np.ascontiguousarray(bundle.x[pick])))
    shown, heat = bundle.x[pick], result.heatmaps
    if bundle.name == "fashion-effnet":  # samples are trunk features: show the images they came from
        from edgesieve.data.fashion import load_fashion_mnist_numpy

        shown = load_fashion_mnist_numpy("train")[0][pick]
        heat = torch.nn.functional.interpolate(heat.unsqueeze(1), size=shown.shape[2:], mode="bilinear",
                                               align_corners=False).squeeze(1)
    return F.gradcam_overlays(shown, heat.numpy(), keep, result.predicted.numpy(), bundle.classes,
                              fig_dir / "gradcam_overlays.png")


def write_report(out: Path, cfg, sections, figure_files) -> Path:
    lines = [f"# DRIP reproduction: {cfg.dataset}", ""]
    lines.append("Protocol (SPEC section 1): each run reshuffles the training pool into D1 40% / D2 20% / D3 40%; "
                 "baseline on D1, all-data on D1+D3, the selector's model on D1 + kept(D3), random on D1 + a "
                 "uniform subset of D3 of the same size; every model from the same initial weights; test split "
                 "never used for any choice. Config and versions: `main/config.json`; per-run numbers: the grid cells under `main/drip/` (`edgesieve grid report main`).")
    lines.append("")
    for title, table in sections:
        lines += [f"## {title}", "", table, ""]
    lines += ["## The paper's Table I (mean over 20 runs; other data sets except MNIST)", "",
              "| data set | Baseline | All-Data | DRIP | Random | savings % |", "|---|---|---|---|---|---|"]
    for name, (b, a, d, r, s) in PAPER_TABLE_I.items():
        lines.append(f"| {name} | {b} | {a} | {d} | {r} | {s} |")
    lines.append("")
    for caption, path in figure_files:
        lines += [f"## {caption}", "", f"![{caption}]({path.relative_to(out)})", ""]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report
