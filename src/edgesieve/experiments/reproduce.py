"""``edgesieve reproduce drip``: the paper's table, the DPW sweep and the label-noise sweep on
one data set, with figures and a Markdown report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from edgesieve.data import dataset_spec, load_dataset
from edgesieve.experiments.protocol import ProtocolConfig, run_protocol
from edgesieve.experiments.summary import PAPER_TABLE_I, summarize
from edgesieve.models.registry import model_factory


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
) -> Path:
    """Run the main protocol (and the sweeps asked for) into ``out``; returns the report path.
    ``stream``: the stream scenario D3 arrives as (``edgesieve streams``); the label-noise sweep
    is an iid experiment (on a stream, use the ``label-noise`` scenario instead)."""
    out = Path(out)
    spec = dataset_spec(dataset)
    recipe, model = spec.recipe, model_factory(spec.model)
    base = ProtocolConfig(  # validates every option before any data is read
        dataset=dataset, runs=runs, dpws=(dpw,), selector=selector, epochs=epochs or recipe.epochs,
        batch_size=recipe.batch_size, lr=recipe.lr, seed=seed, pool=pool, stream=stream,
    )
    swept = replace(base, runs=sweep_runs or runs)
    sweeps = [replace(swept, dpws=tuple(dpw_sweep))] if dpw_sweep else []
    sweeps += [replace(swept, label_noise=level) for level in noise_sweep]  # built now to validate them early
    bundle = load_dataset(dataset, root)
    sections = []
    run_protocol(bundle, model, base, out / "main", progress=progress)
    sections.append(("Main protocol", (out / "main" / "table.md").read_text()))
    sweep_summary = noise_summaries = None
    if dpw_sweep:
        cfg = sweeps[0]
        records = run_protocol(bundle, model, cfg, out / "dpw_sweep", progress=progress)
        sweep_summary = summarize(records, cfg)
        sections.append(("Accuracy versus DPW", (out / "dpw_sweep" / "table.md").read_text()))
    if noise_sweep:
        noise_summaries = {}
        for cfg in sweeps[1 if dpw_sweep else 0 :]:
            level = cfg.label_noise
            folder = out / f"noise_{level:g}"
            records = run_protocol(bundle, model, cfg, folder, progress=progress)
            noise_summaries[level] = summarize(records, cfg)
            sections.append((f"Label noise {level:.0%}", (folder / "table.md").read_text()))
    figure_files = []
    if figures:
        figure_files = make_figures(out, bundle, base, model, sweep_summary, noise_summaries)
    return write_report(out, base, sections, figure_files)


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
                 "never used for any choice. Config and versions: `main/config.json`; per-run numbers: `main/runs/`.")
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
