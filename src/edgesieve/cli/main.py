"""``edgesieve`` command line. Each subcommand parses options and calls one library function."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgesieve.errors import DatasetNotFoundError


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1), e.g. 0.25, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _fractions(text: str) -> tuple[float, ...]:
    return tuple(_fraction(t) for t in text.split(","))


def _fractions0(text: str) -> tuple[float, ...]:
    values = tuple(float(t) for t in text.split(","))
    if any(not 0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"noise levels must be fractions in [0, 1), got {text}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgesieve",
        description="Decide on an edge device which streaming data points to keep and train on.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="fetch and locate data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download a data set into the cache folder")
    fetch.add_argument("name", help="data set name: mnist, fashion, fsdd, har, fashion-effnet")
    fetch.add_argument("--from", dest="source", type=Path, default=None,
                       help="fsdd only: a folder holding the recordings ({digit}_{speaker}_{take}.wav)")
    fetch.add_argument("--root", type=Path, default=None,
                       help="cache folder (default: $EDGESIEVE_DATA or ~/.cache/edgesieve)")
    fetch.add_argument("--force", action="store_true", help="fetch again even if verified files are present")

    rep = sub.add_parser("reproduce", help="reproduce a paper's experiments on real data")
    rep_sub = rep.add_subparsers(dest="paper", required=True)
    drip = rep_sub.add_parser(
        "drip",
        help="DRIP's Table I protocol (+ DPW and label-noise sweeps), figures and a Markdown report",
        description="Each run reshuffles the training pool into D1 40%% / D2 20%% / D3 40%%; trains baseline "
        "(D1), all-data (D1+D3), the selector's model (D1 + kept D3) and random (D1 + same-size random subset "
        "of D3); evaluates on the test split. Finished runs are kept: rerunning resumes.",
    )
    drip.add_argument("--dataset", required=True, choices=("mnist", "fashion", "fsdd", "har", "fashion-effnet"),
                      help="mnist, fashion (Fashion-MNIST), fsdd (spoken digits, raw audio), har (smartwatch IMU), "
                      "fashion-effnet (Fashion-MNIST on a frozen ImageNet-pretrained EfficientNet-Lite0 trunk)")
    drip.add_argument("--runs", type=_positive_int, default=5, help="independent reshuffles (the paper: 20); default 5")
    drip.add_argument("--sweep-runs", type=_positive_int, help="runs per sweep point (default: --runs)")
    drip.add_argument("--dpw", type=_fraction, default=0.25, help="discard percentage window of the main table; default 0.25")
    drip.add_argument("--dpw-sweep", type=_fractions, default=(),
                      help="also run accuracy versus DPW, e.g. 0.1,0.2,0.3,0.4,0.5 (baselines shared across values)")
    drip.add_argument("--noise-sweep", type=_fractions0, default=(),
                      help="also run label-noise robustness: fractions of D1/D3 labels flipped, e.g. 0,0.1,0.2,0.3,0.4,0.5")
    drip.add_argument("--selector", default="drip", help="any registered selector in DRIP's place (see `edgesieve selectors`)")
    drip.add_argument("--pool", type=_positive_int, help="use a random subset of the training pool of this size (default: all)")
    drip.add_argument("--epochs", type=_positive_int, help="training epochs per model (default: the data set's preset)")
    drip.add_argument("--seed", type=int, default=0, help="first seed; run i uses seed + i")
    drip.add_argument("--root", type=Path, default=None, help="data cache folder")
    drip.add_argument("--out", type=Path, required=True, help="results folder (config, runs, tables, figures, report.md)")
    drip.add_argument("--no-figures", action="store_true", help="skip the figures")
    drip.add_argument("--no-progress", action="store_true", help="no progress bars")

    sub.add_parser("selectors", help="list the registered selectors")

    titan = rep_sub.add_parser(
        "titan",
        help="Titan's online-training protocol: every method on the same streams, several seeds",
        description="Rounds of v streaming samples; the coarse filter fills a small buffer; the method picks a "
        "batch; one SGD step (lr decays by 0.95 every 100 rounds). Reports final accuracy, time-to-accuracy "
        "normalised to RS (target = RS's final accuracy) in rounds and wall-clock, and per-stage timings.",
    )
    titan.add_argument("--dataset", required=True, choices=("mnist", "fashion", "fsdd", "har"))
    titan.add_argument("--methods", default="titan,rs,is,hl,ll,ce,ocs,camel",
                       help="comma-separated: titan, rs, is, hl, ll, ce, ocs, camel (rs is required)")
    titan.add_argument("--seeds", type=_positive_int, default=3, help="seeds per method; default 3")
    titan.add_argument("--rounds", type=_positive_int, default=500, help="training rounds; default 500")
    titan.add_argument("--v", type=_positive_int, default=100, help="samples arriving per round; default 100")
    titan.add_argument("--buffer", type=_positive_int, default=30, help="candidate buffer size; default 30")
    titan.add_argument("--batch", type=_positive_int, default=10, help="samples per SGD step; default 10")
    titan.add_argument("--lr", type=float, default=0.1, help="SGD learning rate; default 0.1")
    titan.add_argument("--eval-every", type=_positive_int, default=25, help="rounds between test evaluations")
    titan.add_argument("--mode", choices=("sequential", "pipelined", "train_only"), default="sequential",
                       help="sequential, or pipelined (selection in a worker thread, one-round delay)")
    titan.add_argument("--root", type=Path, default=None, help="data cache folder")
    titan.add_argument("--out", type=Path, required=True, help="results folder")
    titan.add_argument("--no-progress", action="store_true", help="no progress bars")

    flt = sub.add_parser(
        "filter",
        help="stream samples through a calibrated filter into a retained-data store (resumes after a crash)",
        description="Stream samples through a calibrated filter and commit the retained ones to an SQLite "
        "store, one transaction per micro-batch. Run it again on the same store and input to resume "
        "after the last committed batch.",
    )
    flt.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                     help="torch: --model + --weights + --selector; onnx: --model is an exported .onnx "
                     "(torch-free: numpy, onnxruntime, sqlite3)")
    flt.add_argument("--model", required=True,
                     help="torch runtime: a model name (mnist_cnn, efficientnet_style) or package.module:factory; "
                     "onnx runtime: the .onnx file from `edgesieve export`")
    flt.add_argument("--weights", type=Path, help="torch runtime: the model's .safetensors weights")
    flt.add_argument("--selector", type=Path, help="torch runtime: the selector state JSON (from calibrate/save)")
    flt.add_argument("--input", required=True,
                     help="a folder of files (.npy, .wav, images), an .npy/.npz array file (npz: x and optional "
                     "labels y), or a data set name (mnist, mnist:train)")
    flt.add_argument("--store", type=Path, required=True, help="the SQLite store to create or append to")
    flt.add_argument("--batch-size", type=_positive_int, default=64, help="micro-batch size (one transaction each); default 64")
    flt.add_argument("--nonfinite", choices=("skip", "reject"), default="skip",
                     help="samples holding NaN/Inf: skip = count and drop (never stored), reject = stop with an error")
    flt.add_argument("--max-samples", type=_positive_int, help="store capacity in samples")
    flt.add_argument("--max-bytes", type=_positive_int, help="store capacity in bytes of sample arrays")
    flt.add_argument("--policy", choices=("reject", "evict_lowest", "reservoir"), default="reject",
                     help="when the store is full: reject new samples, evict the lowest score, or keep a "
                     "uniform reservoir of everything offered; default reject")
    flt.add_argument("--limit", type=_positive_int, help="stop after this many arrivals in this run")
    flt.add_argument("--threads", type=_positive_int, help="compute threads (torch or onnxruntime)")
    flt.add_argument("--no-progress", action="store_true", help="no live progress line")

    exp = sub.add_parser("export", help="export a calibrated DRIP filter to ONNX, validated with onnxruntime")
    exp.add_argument("--model", required=True, help="a model name (mnist_cnn, ...) or package.module:factory")
    exp.add_argument("--weights", type=Path, help="the model's .safetensors weights")
    exp.add_argument("--selector", type=Path, required=True, help="the DRIP state JSON")
    exp.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    exp.add_argument("--check-samples", type=_positive_int, default=1024,
                     help="random inputs on which onnxruntime must match PyTorch; default 1024")

    store = sub.add_parser("store", help="inspect or export a retained-data store")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    info = store_sub.add_parser("info", help="counts per class, bytes, capacity, stream positions")
    info.add_argument("store", type=Path)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    npz = store_sub.add_parser("export", help="write every stored sample to an .npz (x, label, predicted, score, arrival, id)")
    npz.add_argument("store", type=Path)
    npz.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from edgesieve.store import StoreError

    try:
        return _dispatch(args)
    except (DatasetNotFoundError, ValueError, TypeError, StoreError) as err:
        print(f"edgesieve: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "data":
        from edgesieve.data import fetch

        print(f"{args.name}: {fetch(args.name, args.root, force=args.force, source=args.source)}")
    elif args.command == "selectors":
        from edgesieve.selectors import list_selectors

        print("\n".join(list_selectors()))
    elif args.command == "reproduce" and args.paper == "titan":
        _reproduce_titan(args)
    elif args.command == "reproduce":
        from edgesieve.experiments.reproduce import reproduce_drip

        report = reproduce_drip(
            args.dataset, args.out, runs=args.runs, sweep_runs=args.sweep_runs, dpw=args.dpw, dpw_sweep=args.dpw_sweep, noise_sweep=args.noise_sweep,
            selector=args.selector, pool=args.pool, epochs=args.epochs, seed=args.seed, root=args.root,
            progress=not args.no_progress, figures=not args.no_figures,
        )
        print((args.out / "main" / "table.md").read_text())
        print(f"report: {report}")
    elif args.command == "filter":
        _filter(args)
    elif args.command == "export":
        from edgesieve.export import export_drip_onnx

        selector = _torch_selector(args)
        report = export_drip_onnx(selector, args.out, sample=_check_sample(selector, args.check_samples))
        print(
            f"wrote {report.path} ({report.size_bytes:,} bytes); onnx.checker passed; onnxruntime matches "
            f"PyTorch on {report.n_checked} inputs: keep flags identical, max score difference {report.max_score_diff:.2e}"
        )
    elif args.command == "store":
        _store(args)
    return 0


def _reproduce_titan(args) -> None:
    from edgesieve.data import load_dataset
    from edgesieve.experiments.presets import preset
    from edgesieve.titan.experiment import TitanConfig, run_titan
    from edgesieve.titan.online import OnlineConfig

    online = OnlineConfig(rounds=args.rounds, v=args.v, buffer=args.buffer, batch=args.batch, lr=args.lr,
                          eval_every=args.eval_every, mode=args.mode)
    cfg = TitanConfig(dataset=args.dataset, methods=tuple(args.methods.split(",")), seeds=args.seeds, online=online)
    run_titan(load_dataset(args.dataset, args.root), preset(args.dataset).model, cfg, args.out,
              progress=not args.no_progress)
    print((args.out / "table.md").read_text())


def _torch_selector(args):
    from edgesieve.models import build_model
    from edgesieve.selectors import load_selector

    if args.selector is None:
        raise ValueError("the torch runtime needs --selector STATE.json")
    model = build_model(args.model, args.weights)
    return load_selector(args.selector, model)


def _check_sample(selector, n: int):
    import torch

    return torch.rand(n, *selector.sample_shape_, generator=torch.Generator().manual_seed(0))


def _filter(args) -> None:
    from edgesieve.device.filter_loop import run_filter
    from edgesieve.device.sources import open_source
    from edgesieve.store import Capacity, RetainedStore

    if args.runtime == "onnx":
        from edgesieve.runtime import OnnxFilter

        filt = OnnxFilter(args.model, threads=args.threads)
    else:
        import torch

        from edgesieve.device.torch_filter import TorchFilter

        if args.threads:
            torch.set_num_threads(args.threads)
        filt = TorchFilter(_torch_selector(args))
    capacity = None
    if args.max_samples or args.max_bytes or args.policy != "reject":
        capacity = Capacity(max_samples=args.max_samples, max_bytes=args.max_bytes, policy=args.policy)
    source = open_source(args.input, filt.sample_shape)
    with RetainedStore(args.store, capacity=capacity) as store:
        summary = run_filter(filt, source, store, batch_size=args.batch_size, nonfinite=args.nonfinite,
                             limit=args.limit, progress=not args.no_progress)
    print(summary.format())


def _store(args) -> None:
    import json

    from edgesieve.store import RetainedStore

    with RetainedStore(args.store, readonly=True) as store:
        if args.store_command == "export":
            print(f"wrote {store.export_npz(args.out)} ({store.count()} samples)")
            return
        info = store.info()
    if args.json:
        print(json.dumps(info, indent=1))
        return
    c = info["counters"]
    print(f"{info['path']}: {info['samples']} samples, {c['stored_bytes']:,} bytes of arrays (store format {info['format_version']})")
    print(f"capacity {info['capacity']}; offered {c['offered']}, evicted {c['evicted']}, rejected when full "
          f"{c['rejected_full']}, skipped non-finite {c['skipped_nonfinite']}")
    for source, position in info["sources"].items():
        print(f"source {source}: next arrival {position}")
    print(f"{'class':>5} {'seen':>8} {'kept':>8} {'discarded':>9}")
    for row in info["classes"]:
        print(f"{row['class']:>5} {row['seen']:>8} {row['kept']:>8} {row['discarded']:>9}")


if __name__ == "__main__":
    raise SystemExit(main())
