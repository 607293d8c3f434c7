"""``edgesieve filter``, ``export`` and ``store``: the device path."""

from __future__ import annotations

from pathlib import Path

from edgesieve.cli.options import non_negative_float, positive_float, positive_int


def add_parsers(sub) -> None:
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
                     help="torch runtime: a registered model name (mnist_cnn, audio_cnn, imu_cnn, ...: an unknown name lists them "
                     "all) or package.module:factory; "
                     "onnx runtime: the .onnx file from `edgesieve export`")
    flt.add_argument("--weights", type=Path, help="torch runtime: the model's .safetensors weights")
    flt.add_argument("--selector", type=Path, help="torch runtime: the selector state JSON (from calibrate/save)")
    flt.add_argument("--input", required=True,
                     help="a folder of files (.npy, .wav, images), an .npy/.npz array file (npz: x and optional "
                     "labels y, as `store export` writes them), or a registered data set name with its split "
                     "(mnist:test, fashion:test, fsdd:train; `edgesieve data list`)")
    flt.add_argument("--store", type=Path, required=True, help="the SQLite store to create or append to")
    flt.add_argument("--batch-size", type=positive_int, default=64, help="micro-batch size (one transaction each); default 64")
    flt.add_argument("--nonfinite", choices=("skip", "reject"), default="skip",
                     help="samples holding NaN/Inf: skip = count and drop (never stored), reject = stop with an error")
    flt.add_argument("--max-samples", type=positive_int, help="store capacity in samples")
    flt.add_argument("--max-bytes", type=positive_int, help="store capacity in bytes of sample arrays")
    flt.add_argument("--policy", default="reject", metavar="NAME[:KEY=VALUE,...]",
                     help="when the store is full: reject new samples, evict_lowest (score), reservoir (uniform "
                     "over everything offered), class_balanced (CBRS) or gdumb (a sample's class is its label, "
                     "else the predicted class), or a label-free balancing store on the predicted class: pbrs, "
                     "hus:threshold=T, cstu, trust_balanced[:within=random|uncertain,full=reservoir,labelled_store=true] (a stored "
                     "sample's label, where the input has one, counts for its class); or keep the highest "
                     "high_entropy / high_loss (the loss of the label, else of the predicted class); default reject")
    flt.add_argument("--offer", choices=("kept", "all"), default="kept",
                     help="what the store is offered: kept = what the filter keeps (default), all = every finite "
                     "arrival, so the store policy alone decides (the filter still scores and predicts)")
    flt.add_argument("--max-delay-ms", type=non_negative_float, metavar="D",
                     help="on a live stream, decide a micro-batch when it is full (--batch-size) or when waiting longer "
                     "would hold its first arrival past D ms (0: each arrival alone); default off: full batches")
    flt.add_argument("--arrival-rate", type=positive_float, metavar="HZ",
                     help="replay the input as a live sensor at this rate (arrivals per second), to see --max-delay-ms "
                     "at work and the latency from arrival to commit; default: read the input as fast as possible")
    flt.add_argument("--limit", type=positive_int, help="stop after this many arrivals in this run")
    flt.add_argument("--threads", type=positive_int, help="compute threads (torch or onnxruntime)")
    flt.add_argument("--no-progress", action="store_true", help="no live progress line")

    exp = sub.add_parser("export", help="export a calibrated DRIP filter to ONNX, validated with onnxruntime")
    exp.add_argument("--model", required=True, help="a registered model name (mnist_cnn, audio_cnn, imu_cnn, ...: an unknown name lists them all) "
                     "or package.module:factory")
    exp.add_argument("--weights", type=Path, help="the model's .safetensors weights")
    exp.add_argument("--selector", type=Path, required=True, help="the DRIP state JSON")
    exp.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    exp.add_argument("--check-samples", type=positive_int, default=1024,
                     help="random inputs on which onnxruntime must match PyTorch; default 1024")
    exp.add_argument("--quantize", metavar="MODE",
                     help="int8: onnxruntime's static quantisation of the convolutions, calibrated on --calibration, "
                     "with DRIP's windows recalibrated on the quantised graph's own scores (int8-a16: 16-bit "
                     "activations, closer to the float filter but slower; int8-weights: int8 weights only, folded "
                     "back to float when onnxruntime loads the file: a third of the size, the float filter's "
                     "latency, the closest decisions); the report states agreement with the "
                     "float filter on held-out samples, sizes and batch-1 latencies")
    exp.add_argument("--calibration", metavar="DATA",
                     help="with --quantize: samples as `filter --input` takes them (a data set name, .npy/.npz, a folder); "
                     "ideally the validation data DRIP was calibrated on")
    exp.add_argument("--holdout", metavar="DATA",
                     help="with --quantize: held-out samples for the report (default: the last 20%% of --calibration, "
                     "which the calibration then does not see)")
    exp.add_argument("--calibration-samples", type=positive_int, default=2000,
                     help="with --quantize: at most this many calibration (and held-out) samples; default 2000")

    store = sub.add_parser("store", help="inspect or export a retained-data store")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    info = store_sub.add_parser("info", help="counts per class, bytes, capacity, stream positions")
    info.add_argument("store", type=Path)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    npz = store_sub.add_parser("export", help="write every stored sample to an .npz (x, label, predicted, score, arrival, id)")
    npz.add_argument("store", type=Path)
    npz.add_argument("--out", type=Path, required=True)
    lab = store_sub.add_parser("label", help="label stored samples after the fact (the device loop: export, label, feed back)")
    lab.add_argument("store", type=Path)
    lab.add_argument("--labels", type=Path, required=True,
                     help="an .npz with sample ids `id` and labels `y` (as `store export` writes them; y = -1: "
                     "still unlabelled, skipped); all are applied in one transaction, or none")


def run(args) -> None:
    if args.command == "filter":
        _filter(args)
    elif args.command == "export":
        _export(args)
    else:
        _store(args)


def _export(args) -> None:
    import tempfile

    from edgesieve.export import export_drip_onnx
    from edgesieve.export.quantize import check_mode, quantize_filter

    if args.quantize is None and (args.calibration or args.holdout):
        raise ValueError("--calibration and --holdout go with --quantize (int8, int8-a16, int8-weights)")
    if args.quantize is not None:
        check_mode(args.quantize)
        if not args.calibration:
            raise ValueError(f"--quantize {args.quantize} needs --calibration DATA (the samples that set its ranges and windows)")
    selector = _torch_selector(args)
    if args.quantize is not None:
        calibration, holdout = _quantize_data(args, tuple(selector.sample_shape_))
        with tempfile.TemporaryDirectory() as tmp:
            float_path = Path(tmp) / "float.onnx"
            export_drip_onnx(selector, float_path, sample=_check_sample(selector, args.check_samples))
            print(quantize_filter(float_path, args.out, calibration, holdout, mode=args.quantize).format())
        return
    report = export_drip_onnx(selector, args.out, sample=_check_sample(selector, args.check_samples))
    print(
        f"wrote {report.path} ({report.size_bytes:,} bytes); onnx.checker passed; onnxruntime matches "
        f"PyTorch on {report.n_checked} inputs: keep flags identical, max score difference {report.max_score_diff:.2e}"
        + (f"; {report.lifted_1d_ops} 1-D operators run as 2-D ones (onnxruntime's faster kernels)" if report.lifted_1d_ops else "")
    )


def _quantize_data(args, sample_shape):
    import numpy as np

    from edgesieve.device.sources import open_source

    def read(spec, n):
        parts, have = [], 0
        for _, x, _ in open_source(spec, sample_shape).batches(0, 512):
            parts.append(np.asarray(x, dtype=np.float32))
            have += len(x)
            if have >= n:
                break
        if not parts:
            raise ValueError(f"{spec} holds no samples")
        return np.concatenate(parts)[:n]

    n = args.calibration_samples
    if args.holdout:
        return read(args.calibration, n), read(args.holdout, n)
    data = read(args.calibration, n)
    cut = int(round(0.8 * len(data)))
    return data[:cut], data[cut:]


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
    from edgesieve.store.policies import parse_policy_spec
    from edgesieve.store.policy_driver import DRIVEN_POLICIES

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
        name, params = parse_policy_spec(args.policy)
        n_classes = getattr(filt, "n_classes", None) if name in DRIVEN_POLICIES else None
        capacity = Capacity(max_samples=args.max_samples, max_bytes=args.max_bytes, policy=name, params=params,
                            n_classes=n_classes)
    source = open_source(args.input, filt.sample_shape)
    if args.arrival_rate:
        from edgesieve.device.micro_batch import PacedSource

        source = PacedSource(source, args.arrival_rate)
    created = not (args.store.exists() and args.store.stat().st_size > 0)
    try:
        with RetainedStore(args.store, capacity=capacity) as store:
            summary = run_filter(filt, source, store, batch_size=args.batch_size, nonfinite=args.nonfinite,
                                 limit=args.limit, progress=not args.no_progress, offer=args.offer,
                                 max_delay_ms=args.max_delay_ms)
    except Exception:
        if created:
            _remove_if_empty(args.store)  # bad input on the first batch: leave no empty store behind
        raise
    print(summary.format())


def _label(args) -> None:
    import numpy as np

    from edgesieve.device.sources import load_numeric
    from edgesieve.store import RetainedStore, StoreError

    if not args.store.exists():
        raise StoreError(f"no store at {args.store}")
    if args.labels.suffix != ".npz" or not args.labels.is_file():
        raise ValueError(f"--labels must be an existing .npz with arrays id and y, got {args.labels}")
    with load_numeric(args.labels) as npz:
        if "id" not in npz or "y" not in npz:
            raise ValueError(f"{args.labels} holds {sorted(npz.keys())}; it needs sample ids `id` and labels `y`")
        ids, labels = npz["id"], npz["y"]
    if ids.shape != labels.shape:
        raise ValueError(f"{args.labels}: {len(ids)} ids but {len(labels)} labels")
    known = labels >= 0
    with RetainedStore(args.store) as store:
        n = store.label(ids[known], labels[known])
        source = store.info()["class_source"]
    print(f"labelled {n} stored samples ({int((~known).sum())} left unlabelled in {args.labels.name}); the store now "
          f"holds {source['label']} labelled and {source['predicted']} unlabelled samples")


def _remove_if_empty(path: Path) -> None:
    """Delete a store this run created if nothing was committed to it (its -wal/-shm too)."""
    from edgesieve.store import RetainedStore, StoreError

    try:
        with RetainedStore(path, readonly=True) as store:
            if store.count() or store.info()["sources"]:
                return
    except StoreError:
        return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _store(args) -> None:
    import json

    from edgesieve.store import RetainedStore

    if args.store_command == "label":
        _label(args)
        return
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
