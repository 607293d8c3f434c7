"""Assemble RESULTS.md from the result folders written by scripts/reproduce_drip_all.sh and
scripts/reproduce_titan_all.sh.

    python scripts/make_results_md.py
"""

from __future__ import annotations

import json
from pathlib import Path

from edgesieve.experiments.grid.evidence import evidence_section
from edgesieve.experiments.statistics import format_difference

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "drip"
TITAN = ROOT / "results" / "titan"
TITAN_DATASETS = ("mnist", "fashion", "fsdd", "har")
TITAN_COMMAND = ("edgesieve reproduce titan --dataset {d} --methods titan,rs,is,hl,ll,ce,ocs,camel --seeds 5 "
                 "--rounds 500 --eval-every 25{extra} --out results/titan/{d}")

TITAN_PAPER = """| Titan paper (CIFAR-10, Speech Commands, HARBOX; Jetson Nano) | reported |
|---|---|
| time-to-accuracy vs RS (target = RS's final accuracy) | 0.57-0.77x |
| final accuracy vs RS | up to +6.2 points |
| processing delay per streaming sample | 4-13 ms |
| memory: coarse filter / fine selection | 5.7-9.4 MB / 18-109 MB |
| pipeline's extra memory | under 10% |"""


def titan_summary_table() -> str:
    """Titan and every rival against RS, one line per data set and method."""
    rows = ["| data set | method | final accuracy % | − RS (paired) [95% CI] | wins | verdict | time-to-accuracy vs RS (rounds) | (wall-clock, sequential) |",
            "|---|---|---|---|---|---|---|---|"]
    for d in TITAN_DATASETS:
        path = TITAN / d / "summary.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        seeds = json.loads((TITAN / d / "config.json").read_text())["config"]["seeds"]
        for name, m in s["methods"].items():
            tta = "not reached" if m["tta_rounds_vs_rs"] is None else f"{m['tta_rounds_vs_rs']:.2f}x"
            ttas = "not reached" if m["tta_seconds_vs_rs"] is None else f"{m['tta_seconds_vs_rs']:.2f}x"
            diff = "—" if name == "rs" else format_difference(m["minus_rs"][0], m["minus_rs_ci95"])
            wins = "—" if name == "rs" else f"{m['wins_vs_rs']}/{seeds}"
            bold = "**" if name == "titan" else ""
            rows.append(f"| {d} | {bold}{name}{bold} | {m['final_acc'][0]:.2f} ± {m['final_acc'][1]:.2f} | {diff} | {wins} | "
                        f"{m['verdict']} | {tta} | {ttas} |")
    return "\n".join(rows)


def wallclock_section() -> list[str]:
    """Issue 14: Titan in seconds, from results/wallclock (scripts/titan_wallclock.py)."""
    folder = ROOT / "results" / "wallclock"
    if not (folder / "wallclock.json").exists():
        return []
    rows = json.loads((folder / "wallclock.json").read_text())["rows"]
    lines = ["## Titan in seconds: wall-clock time-to-accuracy per execution setting, and the crossover (issue 14)", "",
             "`edgesieve grid run experiments/titan_wallclock.toml --out results/wallclock/sequential --num-cpus 2`, the "
             "same with `experiments/titan_wallclock_pipelined.toml --out results/wallclock/pipelined`, then "
             "`python scripts/titan_wallclock.py`. The paper-like models (a MobileNetV1-style CNN on MNIST, a residual "
             "1-D CNN on raw FSDD audio, the paper's 2-layer MLP on HAR), 100 rounds of v = 100 into a buffer of 30, "
             "batch 10, 20 seeds, each cell alone on the 2 cores; and a light round (v = 40 into a buffer of 15, where "
             "selection costs less than a training step; `--set v=40 --set buffer=15 --out results/wallclock/light/...`, "
             "commands in `scripts/titan_wallclock.py`) for FSDD, to move s/t along the crossover. No GPU was lent to the sessions that measured this, so the third setting (trainer "
             "on a GPU, selection on the CPU) is not measured.", ""]
    for r in rows:
        if r["method"] == "rs" or r.get("predicted_seconds_ratio") is None:
            continue
        sec, rounds = r["seconds_ratio"], r["rounds_ratio"]
        be = r.get("break_even_selection_vs_train")
        interval = "" if sec["ci_low"] is None else f" [{sec['ci_low']:.2f}, {sec['ci_high']:.2f}]"
        lines.append(f"- {r['dataset']} / {r['model']}, v = {r['v']} into a buffer of {r.get('buffer', 30)}, {r['setting']}: "
                     "wall-clock to RS's level "
                     f"**{sec['ratio']:.2f}x{interval}** of RS ({_verdict(sec)}); rounds {rounds['ratio']:.2f}x; a round "
                     f"{r['round_vs_train']:.2f}x RS's; selection / training s/t = {r['selection_vs_train']:.2f}; Titan would "
                     f"pay below s/t = " + ("never (not even free selection would, at this rounds ratio and pipeline cost)"
                                            if be is None else f"{be:.2f}") + ".")
    lines += ["", (folder / "wallclock.md").read_text().split("\n", 2)[2].strip().replace("](crossover.png)",
                                                                                       "](results/wallclock/crossover.png)"), ""]
    return lines + wallclock_verdict(rows)


def _span(values, fmt: str = "{:.2f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}-{fmt.format(high)}"


def _paper_round(row: dict) -> bool:
    return row["v"] == 100 and row.get("buffer", 30) == 30


def _titan_wallclock_rows(rows: list[dict]) -> tuple[list, list, list, list]:
    """Titan's wall-clock rows: (paper round, other rounds, paper round sequential, paper round pipelined)."""
    every = [r for r in rows if r["method"] == "titan" and r.get("predicted_seconds_ratio") is not None]
    paper = [r for r in every if _paper_round(r)]
    return (paper, [r for r in every if not _paper_round(r)], [r for r in paper if r["setting"] == "sequential"],
            [r for r in paper if r["setting"] != "sequential"])


def wallclock_verdict(rows: list[dict]) -> list[str]:
    """Issue 14's two targets, stated from the wall-clock cells and the round-time benchmark."""
    bench = json.loads((ROOT / "benchmarks" / "results" / "titan.json").read_text()).get("round_ms_by_model") or {}
    titan, light, seq, pipe = _titan_wallclock_rows(rows)
    rs_pipe = [r for r in rows if r["method"] == "rs" and r["setting"] != "sequential" and _paper_round(r)]
    hidden = {k: r for k, r in bench.items() if "train_only_1core_ms" in r and r["selection_split_vs_train_1core"] <= 1}
    paper = {k: r for k, r in bench.items() if k.endswith("/paper") and "selection_vs_train" in r}
    lines = ["### Verdict on this machine (issue 14's targets)", ""]
    if hidden:
        met = sorted(k.split("/")[0] for k, r in hidden.items() if r["pipelined_split_vs_train_only_1core"] <= 1.10)
        lines.append(
            "- **Selection hidden behind training** (`benchmarks/results/titan.md`, round time per model): where selection "
            "per round costs no more than a training step on the same core (s1 <= t1: the light round, v = 40 into a "
            f"buffer of 15, for {', '.join(sorted(k.split('/')[0] for k in hidden))}), the pipelined round with the cores "
            f"split is {_span([r['pipelined_split_vs_train_only_1core'] for r in hidden.values()])}x the trainer's own "
            f"one-core training step (goal 1.10x: met for {', '.join(met) or 'none'}), but "
            f"{_span([r['pipelined_split_vs_train_only'] for r in hidden.values()])}x the train-only round on both cores: "
            "on 2 cores the split gives the trainer one of them, so the 1.10x goal against 2-core train-only cannot be met "
            "here by any pipeline. With the paper's round (v = 100, buffer 30) selection costs "
            f"{_span([r['selection_vs_train'] for r in paper.values()])} training steps (s / t2), and the pipeline runs at "
            f"the slower side's pace ({_span([r['pipelined_split_vs_slower_side'] for r in paper.values()])}x of it).")
    if seq:
        lines.append(
            f"- **Wall-clock time-to-accuracy below RS: not on this hardware.** With the paper's round Titan reaches RS's level in "
            f"{_span([r['rounds_ratio']['ratio'] for r in titan])}x of RS's rounds (R), but costs "
            f"{_span([r['selection_vs_train'] for r in seq])} training steps of selection per round sequentially, so it is "
            f"{_span([r['seconds_ratio']['ratio'] for r in seq])}x of RS's seconds sequentially and "
            f"{_span([r['seconds_ratio']['ratio'] for r in pipe])}x pipelined ("
            + ("every 95% interval above 1" if all((r["seconds_ratio"]["ci_low"] or 0) > 1 for r in titan)
               else "; ".join(f"{r['dataset']} {r['setting']}: {_verdict(r['seconds_ratio'])}" for r in titan))
            + "; the crossover model "
            f"predicts {_span([r['predicted_seconds_ratio'] for r in titan])}x). Why it cannot be: the fine stage alone is "
            "an eval forward over the B buffered samples, about B / (3b) training steps of b samples (forward plus "
            "backward) on the same processor, 1.0 for the paper's B = 30, b = 10, whatever the hardware; so sequential "
            "Titan needs R < 1 / (1 + s/t) <= 0.5, and at the measured R it pays only below s/t = "
            f"{_span([r['break_even_selection_vs_train'] for r in seq])} (break-even), i.e. with selection "
            f"{_span([r['selection_vs_train'] / r['break_even_selection_vs_train'] for r in seq], '{:.0f}')} times cheaper "
            "relative to training than here. Pipelined it pays only where R (max(1, s/t) + o) < 1: with s <= t on a "
            "processor of its own and the pipeline's own cost o below 1/R - 1 "
            f"({_span([1 / r['rounds_ratio']['ratio'] - 1 for r in pipe])} at the measured R); on these 2 cores o = "
            f"{_span([r['round_vs_train'] - 1 for r in rs_pipe])} (RS pipelined: the trainer on one core plus the "
            "hand-over), so never. The hardware at which it would: a trainer that does not share its processor with "
            "selection (a GPU, or cores left idle by the application) and selection at most 1/R times a training step "
            "there." + gpu_round_sentence(min(r["rounds_ratio"]["ratio"] for r in titan)))
    for r in light:
        rounds, sec = r["rounds_ratio"], r["seconds_ratio"]
        lines.append(
            f"- **Moving s/t below 1 does not rescue it** ({r['dataset']} / {r['model']}, {r['setting']}, v = {r['v']} into a "
            f"buffer of {r['buffer']}): selection costs s/t = {r['selection_vs_train']:.2f}, but with fewer candidates Titan "
            f"no longer saves rounds (R = {rounds['ratio']:.2f}x [{rounds['ci_low']:.2f}, {rounds['ci_high']:.2f}]; "
            f"{rounds['missing']} of {r['seeds']} seeds never reach RS's level and are left out, which flatters Titan; "
            f"counted at their run's end, R >= {rounds['at_least']:.2f}x), so it takes {sec['ratio']:.2f}x RS's seconds "
            f"({_verdict(sec)}; with those seeds >= {sec['at_least']:.2f}x): on the crossover the point moves left and R "
            "moves up.")
    return lines + [""]


def gpu_round_sentence(best_r: float) -> str:
    """What a GPU does to s/t, from ``bench_paper_models.py --device cuda`` where it was run."""
    path = ROOT / "benchmarks" / "results" / "paper_models_cuda.json"
    if not path.exists():
        return " A GPU trainer with CPU bookkeeping should move the other way for these small models (not measured)."
    record = json.loads(path.read_text())
    rows = record["models"].values()
    return (f" Measured on a GPU ({record['where']}; `benchmarks/results/paper_models_cuda.md`), it moves the other "
            f"way for these small models: a training step of 10 samples takes {_span([r['train_step_ms_batch10'] for r in rows])}"
            f" ms, a round's selection {_span([r['selection_ms_per_round'] for r in rows], '{:.1f}')} ms (many small kernels "
            f"and the bookkeeping on the CPU), so s/t = {_span([r['selection_to_training'] for r in rows], '{:.1f}')}: worse "
            "than on this CPU, and sequential Titan would take about R (1 + s/t) = "
            f"{_span([best_r * (1 + r['selection_to_training']) for r in rows], '{:.1f}')}x RS's seconds even at the best "
            f"measured R = {best_r:.2f}.")


def _verdict(ratio: dict) -> str:
    from edgesieve.experiments.wallclock import verdict

    return verdict(ratio)


def titan_sections() -> list[str]:
    lines = [
        "## Titan (online-training protocol, SPEC section 2)",
        "",
        "Rounds of v = 100 streaming samples from the training split (a seeded stream, the same for every "
        "method of a seed, which also shares the initial model); each method picks |B| = 10 for one SGD step "
        "(lr 0.1, x0.95 every 100 rounds); 500 rounds; test accuracy every 25 rounds on the full test split. "
        "Titan's coarse filter buffers 30 of the round's 100 and C-IS picks the batch from them; the rivals "
        "pick from all 100 (the paper's setting). The 100 held-out samples that calibrate the selectors are "
        "never streamed. FSDD and HAR are smaller than 500 x 100 samples: their streams are reshuffled and "
        "repeated (`--repeat-stream`). Time-to-accuracy: rounds (and wall-clock seconds, sequential "
        "execution) until a method first reaches RS's mean final accuracy, divided by RS's. **− RS** is paired "
        "by seed. Timings in these tables were taken with two reproductions side by side on the 2 cores "
        "(one thread each); `benchmarks/results/titan.md` has clean ones.",
        "",
        titan_summary_table(),
        "",
        "What this says, plainly. **Titan does not beat RS on final accuracy on any data set**: the 95% "
        "Student-t interval of the paired difference includes 0 everywhere (MNIST +6.2 [−1.6, +13.9], 4/5 "
        "seeds; Fashion-MNIST +4.2 and FSDD +4.5 with intervals ±10-20 points wide; HAR −1.3). (An earlier "
        "version of this page called MNIST a win by a two-standard-error rule, an 88% interval at 5 seeds.) In rounds it reaches "
        "RS's final accuracy at 0.70-0.95x of RS's rounds (paper: 0.57-0.77x). **In wall-clock seconds it is "
        "not faster here**: 1.00-1.70x of RS in sequential execution, because its coarse filter runs the first "
        "block over all 100 streaming samples every round (0.12-0.16 ms per sample on the MNIST CNN, about 1.6 ms "
        "on raw FSDD audio) and the rivals' cheaper selection and Titan's fewer rounds about cancel; the paper "
        "hides selection on idle hardware, and on these 2 cores the pipeline does not (budgets below). Plain "
        "IS, the paper's main rival, does about as well as Titan on MNIST, Fashion and HAR and reaches the "
        "target in fewer rounds on all three; OCS is the one method that beats RS, on FSDD (+15.9 [+4.5, +27.2], 5/5 "
        "seeds), and ties elsewhere; CE loses to RS on FSDD. HL, LL and CE mostly trail RS (LL never learns: it trains on what the model already "
        "gets right). Final accuracy after 500 single SGD steps of batch 10 at lr 0.1 is noisy (RS's seeds "
        "span ±2-10 points), so 5 seeds separate only large effects. FSDD (2,600 streamed recordings) is "
        "streamed about 19 times and HAR (3,575 windows) 14 times in 500 rounds.",
        "",
        "The coarse-stage ablation on HAR (tables below): Titan's filter helps the loss-based rival a lot "
        "(HL 82.1% behind it vs 67.2% without), costs RS about 2 points, and leaves Titan itself where C-IS "
        "alone on all 100 samples gets it (78.0 vs 79.4). DRIP's windows as the coarse stage hurt every "
        "method (59-66%): they keep the points farthest outside their class's window, the atypical ones. "
        "The paper's single global queue instead of class-proportional slots costs Titan 12 points on HAR "
        "(66.3% vs 78.0%, 0/5 seeds against RS): whole classes never reach the buffer.",
        "",
        "The paper's figures (other data sets and hardware):",
        "",
        TITAN_PAPER,
        "",
    ]
    for d in TITAN_DATASETS:
        extra = " --repeat-stream" if d in ("fsdd", "har") else ""
        command = TITAN_COMMAND.format(d=d, extra=extra)
        folder = TITAN / d
        if not (folder / "table.md").exists():
            lines += [f"### Titan: {d}", "", f"Not run yet: `{command}`", ""]
            continue
        lines += [f"### Titan: {d}", "", f"`{command}`", "", (folder / "table.md").read_text().strip(), ""]
        for fig, title in (("accuracy_vs_round.png", "accuracy versus round"), ("delay_per_sample.png", "selection delay")):
            if (folder / "figures" / fig).exists():
                lines.append(f"![{d}: {title}](results/titan/{d}/figures/{fig})")
        lines.append("")
    lines += [
        "### Coarse stages (HAR): Titan's filter, DRIP's windows, none",
        "",
        "The same protocol on HAR with every method behind one coarse stage (`--coarse`): Titan's shallow-feature "
        "filter, DRIP's Grad-CAM windows (points farthest outside their class's window first; windows refit on "
        "the 100 held-out samples every 50 rounds) — the two papers combined — or none (every method, Titan's "
        "C-IS too, picks from all 100). Commands: `bash scripts/reproduce_titan_coarse.sh`.",
        "",
    ]
    for coarse in ("titan", "drip", "none"):
        folder = TITAN / f"har-coarse-{coarse}"
        if (folder / "table.md").exists():
            lines += [f"`--coarse {coarse}`:", "", (folder / "table.md").read_text().strip(), ""]
        else:
            lines += [f"`--coarse {coarse}`: not run yet.", ""]
    folder = TITAN / "har-global-queue"
    if (folder / "table.md").exists():
        lines += ["`--class-slots global` (the paper's single priority queue; class shares of the buffer: "
                  "`python benchmarks/titan_buffer_shares.py`, [benchmarks/results/titan_buffer_shares.md]"
                  "(benchmarks/results/titan_buffer_shares.md)):", "", (folder / "table.md").read_text().strip(), ""]
    lines += ["### Titan's budgets", "", "`python benchmarks/bench_titan.py` (MNIST CNN, 2 threads, idle machine):", ""]
    bench = ROOT / "benchmarks" / "results" / "titan.md"
    if bench.exists():
        body = bench.read_text().split("\n", 1)[1].strip().replace("(titan_memory.png)", "(benchmarks/results/titan_memory.png)")
        lines += [body, ""]
    return lines

COMMANDS = {
    "mnist": "edgesieve reproduce drip --dataset mnist --runs 5 --out results/drip/mnist",
    "fashion": "edgesieve reproduce drip --dataset fashion --runs 5 --out results/drip/fashion",
    "fashion-effnet": "edgesieve reproduce drip --dataset fashion-effnet --runs 5 --pool 20000 --epochs 2 --out results/drip/fashion-effnet",
    "fsdd": "edgesieve reproduce drip --dataset fsdd --runs 5 --out results/drip/fsdd",
    "har": "edgesieve reproduce drip --dataset har --runs 5 --sweep-runs 3 --dpw-sweep 0.1,0.2,0.3,0.4,0.5 "
    "--noise-sweep 0,0.1,0.2,0.3,0.4,0.5 --out results/drip/har",
    "mnist-10k-sweeps": "edgesieve reproduce drip --dataset mnist --runs 3 --pool 10000 --epochs 5 "
    "--dpw-sweep 0.1,0.2,0.3,0.4,0.5 --out results/drip/mnist-10k-sweeps",
}

DISPLAY = {"mnist-10k-sweeps": "mnist (10k pool, 5 epochs)", "fashion-effnet": "fashion on EfficientNet-Lite0"}

PAPER = """| data set (paper) | Baseline | All-Data | DRIP | Random | savings % |
|---|---|---|---|---|---|
| MNIST | 97.8 | 98.9 | 98.9 | 98.2 | 39 |
| CIFAR-10 | 87.5 | 89.1 | 89.2 | 88.8 | 23 |
| Plant Disease | 71.0 | 77.5 | 77.4 | 73.7 | 35 |
| Speech Commands | 76.6 | 85.6 | 85.7 | 80.1 | 29 |"""


def summary_table() -> str:
    """One line per data set (main protocol, DPW 25%)."""
    rows = ["| data set | runs | Baseline | All-Data | DRIP | Random (same size) | DRIP − Random [95% CI] | DRIP wins | savings % | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    pm = lambda p: f"{p[0]:.2f} ± {p[1]:.2f}"  # noqa: E731
    for name in COMMANDS:
        path = RESULTS / name / "main" / "summary.json"
        if not path.exists():
            continue
        s = json.loads(path.read_text())
        row = next(iter(s["by_dpw"].values()))
        rows.append(
            f"| {DISPLAY.get(name, name)} | {s['runs']} | {pm(s['baseline']['acc'])} | {pm(s['all_data']['acc'])} | {pm(row['selector']['acc'])} | "
            f"{pm(row['random']['acc'])} | {format_difference(row['selector_minus_random'][0], row['selector_minus_random_ci95'])} | "
            f"{row['selector_wins']}/{s['runs']} | {row['savings'][0]:.1f} | {row['verdict']} |"
        )
    return "\n".join(rows)


def readme_titan_table() -> str:
    """README's short Titan table: RS, Titan, the paired difference, TTA, the best rival."""
    rows = ["| data set | RS | Titan | Titan − RS [95% CI] | verdict | Titan TTA, rounds / wall-clock | best rival (final accuracy) |",
            "|---|---|---|---|---|---|---|"]
    pm = lambda p: f"{p[0]:.2f} ± {p[1]:.2f}"  # noqa: E731
    for d in TITAN_DATASETS:
        path = TITAN / d / "summary.json"
        if not path.exists():
            continue
        m = json.loads(path.read_text())["methods"]
        t = m["titan"]
        rival_name = max((n for n in m if n not in ("titan", "rs")), key=lambda n: m[n]["final_acc"][0])
        rival = m[rival_name]
        rival_verdict = " (beats RS)" if rival["verdict"] == "beats RS" else ""
        tta = lambda v: "not reached" if v is None else f"{v:.2f}x"  # noqa: E731
        rows.append(f"| {d} | {pm(m['rs']['final_acc'])} | {pm(t['final_acc'])} | {format_difference(t['minus_rs'][0], t['minus_rs_ci95'])} | "
                    f"{t['verdict']} | {tta(t['tta_rounds_vs_rs'])} / {tta(t['tta_seconds_vs_rs'])} | "
                    f"{rival_name.upper()} {pm(rival['final_acc'])}{rival_verdict} |")
    return "\n".join(rows)


def demo_table() -> str:
    """The committed result of README's quick run (scripts/demo.sh writes the same config)."""
    return (RESULTS / "mnist-10k-sweeps" / "main" / "table.md").read_text().strip()


def readme_titan_seconds() -> str:
    """README's short form of the wall-clock verdict (issue 14), from the same result files."""
    rows = json.loads((ROOT / "results" / "wallclock" / "wallclock.json").read_text())["rows"]
    bench = json.loads((ROOT / "benchmarks" / "results" / "titan.json").read_text()).get("round_ms_by_model") or {}
    titan, light, seq, pipe = _titan_wallclock_rows(rows)
    hidden = [r for r in bench.values() if "train_only_1core_ms" in r and r["selection_split_vs_train_1core"] <= 1]
    text = ("**Titan in seconds** (RESULTS.md, \"Titan in seconds\"; 20 paired seeds per row, the paper-like models "
            f"{', '.join(sorted({r['model'] for r in titan}))}): to reach RS's accuracy Titan needs "
            f"{_span([r['rounds_ratio']['ratio'] for r in titan])}x RS's rounds but "
            f"{_span([r['seconds_ratio']['ratio'] for r in seq])}x its wall-clock time sequentially and "
            f"{_span([r['seconds_ratio']['ratio'] for r in pipe])}x pipelined with the cores split, **slower than RS "
            "everywhere**: its selection costs "
            f"{_span([r['selection_vs_train'] for r in seq])} training steps per round (the fine stage alone is a forward "
            "over the 30 buffered samples, about one training step of 10), and splitting 2 cores leaves the trainer one. "
            "It would pay only with selection on a processor the trainer does not need, at most 1/R training steps there "
            "(the crossover figure reads off the break-even for other hardware).")
    if light:
        text += (f" A smaller round (v = {light[0]['v']} into a buffer of {light[0]['buffer']}, {light[0]['dataset']}) brings "
                 f"selection below a training step (s/t {_span([r['selection_vs_train'] for r in light])}) but costs Titan "
                 f"its saving in rounds (R {_span([r['rounds_ratio']['ratio'] for r in light])}x): still "
                 f"{_span([r['seconds_ratio']['ratio'] for r in light])}x RS's seconds.")
    if hidden:
        text += (" The pipeline itself hides selection: where selection costs no more than a training step on the "
                 f"worker's core, the pipelined round is {_span([r['pipelined_split_vs_train_only_1core'] for r in hidden])}x "
                 "the trainer's own one-core step.")
    return text


README_BLOCKS = {"drip-summary": summary_table, "titan-summary": readme_titan_table, "demo-table": demo_table,
                 "titan-seconds": readme_titan_seconds}


def update_readme() -> None:
    """Replace each generated block of README.md (between <!-- name --> and <!-- /name -->)."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name, build in README_BLOCKS.items():
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        if start not in text or end not in text:
            raise SystemExit(f"README.md lacks the {start} ... {end} block")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{build()}\n{end}{tail}"
    readme.write_text(text)
    print(f"updated {readme}")


EVIDENCE_INTRO = (
    "Every selector against random (storage: `random` at the selector's count; online: `rs`) on the streams a "
    "device sees (`edgesieve streams`; SPEC section 5): paired by seed (same stream, same initial weights), "
    "20 seeds per row, Student-t 95% intervals, minimum detectable effect at 80% power, and Holm's adjustment "
    "over each whole table. Commands: `bash scripts/run_evidence.sh` (resumable; one data set at a time: "
    "`bash scripts/run_evidence.sh har`) runs `edgesieve grid run experiments/evidence_*.toml`, each "
    "into the folder its `out` names (`results/evidence`; the coarse-pool grid's own folder); `edgesieve grid report results/evidence` and `python scripts/make_results_md.py` rebuild "
    "the tables from the committed cells. Issue 12's evidence alone (each protocol's own selectors): "
    "`OMP_NUM_THREADS=1 edgesieve grid run experiments/GRID.toml --num-cpus 2` for GRID in evidence_drip, "
    "evidence_drip_long_tail_seeds, evidence_drip_sessions, evidence_titan, evidence_titan_sessions; the rivals "
    "and our policy that issues 13 and 17 added to the Titan tables: evidence_titan_rivals, "
    "evidence_titan_sessions_rivals (same settings, same folder). Bit for bit, a cell is recomputed only on the "
    "same kind of CPU (torch picks its kernels by the CPU, and SGD amplifies the last bits): cells record their "
    "CPU, and the budget measurement below says how many recomputed cells equal the committed ones.\n\n"
    "Sizes (chosen so the cells stay cheap; `experiments/evidence_*.toml` hold them): **online** 100 rounds of "
    "v = 100 arrivals, batch 10, buffer 30; evaluation every 5 rounds on a fixed 500-sample subset of the test "
    "split (the curve: `last20_accuracy` = mean of the last 20% of evaluations, `auc`; FSDD's test split has 300 "
    "samples, so its curve is the whole split and its last point the whole-split end point `test_accuracy`; the "
    "other data sets' cells skip that extra evaluation, `end_point = false`: no table reads it, and the cells "
    "committed with it serve unchanged); MNIST and Fashion-MNIST streams drawn from 10,000 training samples; 1,000 "
    "(FSDD 300, HAR 400) samples held out of every stream as the validation split, on which the learning rate "
    "was chosen for RS from {0.01, 0.03, 0.1, 0.3} (`python scripts/choose_titan_lr.py`, "
    "`results/evidence/titan_lr.json`: 0.1, except FSDD 0.03) and then used for every method; a stream shorter "
    "than 10,000 arrivals plays again in the same order. **storage** the DRIP protocol at DPW 25% with each data "
    "set's recipe (FSDD: 4 epochs), MNIST and Fashion-MNIST from a 6,000-sample pool; D3 is the stream, D1 and "
    "D2 stay clean and iid (factory data). The long-tailed DRIP rows of FSDD and HAR also have seeds 20-23 "
    "(`experiments/evidence_drip_long_tail_seeds.toml`): some seeds' pools cannot form a ratio of 100 "
    "(StreamSpecError, before any training), and the rule fixed before any result was seen runs the next seeds.\n\n"
    "Compute: the grid workers keep freed memory in the process (glibc's mmap and trim thresholds at 1 GiB; "
    "`edgesieve.experiments.allocator`, recorded in every cell as `allocator`): cells that allocate large "
    "tensors every step no longer pay a page fault per page each time (FSDD: a Titan cell 21.7 -> 11.5 s, a DRIP "
    "task 57 -> 49 s; MNIST-sized cells unchanged), with identical results. A DRIP worker trains a seed's "
    "baseline once for all the streams it runs of that seed (they share D1; `RunContext.fit_baseline`, "
    "bit-identical), and the DRIP grids hand a seed's streams out one after another. On 2026-12-05 every DRIP and "
    "Titan cell committed from an older host (another CPU, whose kernels differ in the last bits) was recomputed "
    "here by a rule fixed before any recomputed value was seen (1,762 cells; 15 of 629 verdicts moved, none between "
    "beats and loses): [results/evidence/recomputed_2026-12-05.md](results/evidence/recomputed_2026-12-05.md)."
)


def _measured_budget() -> dict | None:
    """The from-scratch measurement of the evidence (benchmarks/bench_evidence_budget.py), if run."""
    path = ROOT / "benchmarks" / "results" / "evidence_budget.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    lines = [
        "# Results",
        "",
        "Every number here comes from the command printed above its table, run on this project's 2-core CPU "
        "machine; `bash scripts/reproduce_drip_all.sh` runs them all (resumable), and "
        "`python scripts/make_results_md.py` rebuilds this page. Each folder under `results/drip/` and "
        "`results/titan/` holds the command's config and the grid behind it (`*/config.json`), every run as a "
        "grid cell with its config, library versions, wall time and memory "
        "(`*/<protocol>/<dataset>/<stream>/<method>/seed_NNN.json`: `edgesieve grid report FOLDER` reads them), "
        "and the report with figures (`report.md`, `figures/`).",
        "",
        "## Where does selection beat random? Realistic device streams (issue 12)",
        "",
        EVIDENCE_INTRO,
        "",
        *evidence_section(ROOT / "results" / "evidence", sorted((ROOT / "experiments").glob("evidence_*.toml")), root=ROOT,
                          measured_budget=_measured_budget()),
        "## DRIP (storage protocol, SPEC section 1)",
        "",
        "Accuracy on each data set's test split, mean ± sample standard deviation over runs. **DRIP − Random** "
        "is paired by run (same split, same initial weights, same number of kept samples); the verdict calls "
        "a difference real only when its Student-t 95% interval (in brackets) excludes 0. Nothing was tuned on a test split.",
        "",
        "Summary (main protocol, DPW 25%; details and commands below):",
        "",
        summary_table(),
        "",
        "What this says, plainly: with the paper's protocol and a DPW of 25%, DRIP discards 12-24% of the "
        "production data while never falling more than 0.4 points below All-Data accuracy — but on MNIST, "
        "Fashion-MNIST (from scratch and on the pretrained EfficientNet-Lite0 trunk) and HAR a random subset "
        "of the same size does as well. Only on the spoken digits (FSDD, raw-audio 1-D CNN) did DRIP beat "
        "random in these 5 runs (+1.9 [+0.2, +3.6] points), and that does not hold up: the same recipe over 20 "
        "seeds (`experiments/evidence_drip_fsdd_recipe.toml`, its table in the evidence section above) ties. The paper's MNIST gap (98.9 vs 98.2) does not appear here: our "
        "models reach 99.2% on MNIST, where a 24% smaller training set costs random selection nothing. "
        "On HAR, whose test subjects are unseen, only 12% is discarded: production scores there fall outside "
        "the calibrated windows more often than on the calibration set.",
        "",
        "Budgets: a full-MNIST run (four models, 3 epochs each) took 2 min 25 s to 3 min on 2 cores, so the "
        "paper's 20 runs would take about 50-60 minutes (estimated from 5 runs; not run). Peak memory "
        "(resident set, sampled every 15 s) stayed under 1 GB for every reproduction (budget 4 GiB). Fewer "
        "runs than the paper's 20 (5 per data set, 3 per sweep point) were run for time.",
        "",
        "The paper's Table I (20 runs, EfficientNet-B0 / 1-D CNN on other data sets than ours except MNIST):",
        "",
        PAPER,
        "",
    ]
    for name, command in COMMANDS.items():
        folder = RESULTS / name
        if not (folder / "main" / "table.md").exists():
            lines += [f"### {name}", "", f"Not run yet: `{command}`", ""]
            continue
        config = json.loads((folder / "main" / "config.json").read_text())["config"]
        lines += [f"### {name}", "", f"`{command}`", ""]
        lines += [(folder / "main" / "table.md").read_text().strip(), ""]
        for sub, title in (("dpw_sweep", "Accuracy versus DPW"),):
            if (folder / sub / "table.md").exists():
                lines += [f"{title}:", "", (folder / sub / "table.md").read_text().strip(), ""]
        noise = sorted(folder.glob("noise_*/table.md"), key=lambda p: float(p.parent.name.split("_")[1]))
        if noise:
            lines += ["Label noise (filtered = DRIP's model, unfiltered = All-Data):", ""]
            lines += ["| label noise | Baseline | All-Data (unfiltered) | DRIP (filtered) | Random | noisy labels in D3 / kept % |",
                      "|---|---|---|---|---|---|"]
            for table in noise:
                s = json.loads((table.parent / "summary.json").read_text())
                row = next(iter(s["by_dpw"].values()))
                pm = lambda p: f"{p[0]:.2f} ± {p[1]:.2f}"  # noqa: E731
                lines.append(
                    f"| {float(table.parent.name.split('_')[1]):.0%} | {pm(s['baseline']['acc'])} | {pm(s['all_data']['acc'])} | "
                    f"{pm(row['selector']['acc'])} | {pm(row['random']['acc'])} | "
                    f"{row['noisy_label_share_d3'][0]:.1f} / {row['noisy_label_share_kept'][0]:.1f} |"
                )
            lines.append("")
        lines += [f"Report with figures: [{folder.relative_to(ROOT)}/report.md]({folder.relative_to(ROOT)}/report.md); "
                  f"epochs {config['epochs']}, batch {config['batch_size']}, lr {config['lr']}, pool {config['pool'] or 'all'}.", ""]
    lines += titan_sections()
    lines += wallclock_section()
    (ROOT / "RESULTS.md").write_text("\n".join(lines))
    print(f"wrote {ROOT / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
    update_readme()
