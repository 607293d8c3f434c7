"""``edgesieve reproduce drip|titan``: the papers' experiments on real data."""

from __future__ import annotations

from pathlib import Path

from edgesieve.cli.options import dataset_name, fraction, fractions, fractions0, positive_int


def add_parsers(sub) -> None:
    rep = sub.add_parser("reproduce", help="reproduce a paper's experiments on real data")
    rep_sub = rep.add_subparsers(dest="paper", required=True)
    drip = rep_sub.add_parser(
        "drip",
        help="DRIP's Table I protocol (+ DPW and label-noise sweeps), figures and a Markdown report",
        description="Each run reshuffles the training pool into D1 40%% / D2 20%% / D3 40%%; trains baseline "
        "(D1), all-data (D1+D3), the selector's model (D1 + kept D3) and random (D1 + same-size random subset "
        "of D3); evaluates on the test split. Finished runs are kept: rerunning resumes.",
    )
    drip.add_argument("--dataset", required=True, type=dataset_name("drip"),
                      help="mnist, fashion (Fashion-MNIST), fsdd (spoken digits, raw audio), har (smartwatch IMU), "
                      "fashion-effnet (Fashion-MNIST on a frozen ImageNet-pretrained EfficientNet-Lite0 trunk)")
    drip.add_argument("--runs", type=positive_int, default=5, help="independent reshuffles (the paper: 20); default 5")
    drip.add_argument("--sweep-runs", type=positive_int, help="runs per sweep point (default: --runs)")
    drip.add_argument("--dpw", type=fraction, default=0.25, help="discard percentage window of the main table; default 0.25")
    drip.add_argument("--dpw-sweep", type=fractions, default=(),
                      help="also run accuracy versus DPW, e.g. 0.1,0.2,0.3,0.4,0.5 (baselines shared across values)")
    drip.add_argument("--noise-sweep", type=fractions0, default=(),
                      help="also run label-noise robustness: fractions of D1/D3 labels flipped, e.g. 0,0.1,0.2,0.3,0.4,0.5")
    drip.add_argument("--selector", default="drip", help="any registered selector in DRIP's place (see `edgesieve selectors`)")
    drip.add_argument("--pool", type=positive_int, help="use a random subset of the training pool of this size (default: all)")
    drip.add_argument("--epochs", type=positive_int, help="training epochs per model (default: the data set's preset)")
    drip.add_argument("--seed", type=int, default=0, help="first seed; run i uses seed + i")
    drip.add_argument("--stream", default="iid",
                      help="the stream scenario D3 arrives as, e.g. imbalanced:ratio=100 (`edgesieve streams`); default iid")
    drip.add_argument("--root", type=Path, default=None, help="data cache folder (sets EDGESIEVE_DATA for the runs)")
    drip.add_argument("--out", type=Path, required=True, help="results folder (config, runs, tables, figures, report.md)")
    drip.add_argument("--no-figures", action="store_true", help="skip the figures")
    drip.add_argument("--no-progress", action="store_true", help="no progress bars")
    _engine_options(drip)


    titan = rep_sub.add_parser(
        "titan",
        help="Titan's online-training protocol: every method on the same streams, several seeds",
        description="Rounds of v streaming samples; the coarse filter fills a small buffer; the method picks a "
        "batch; one SGD step (lr decays by 0.95 every 100 rounds). Reports final accuracy, time-to-accuracy "
        "normalised to RS (target = RS's final accuracy) in rounds and wall-clock, and per-stage timings.",
    )
    titan.add_argument("--dataset", required=True, type=dataset_name("titan"), help="`edgesieve data list`")
    titan.add_argument("--methods", default="titan,rs,is,hl,ll,ce,ocs,camel",
                       help="comma-separated: titan, rs, is, hl, ll, ce, ocs, camel (rs is required)")
    titan.add_argument("--seeds", type=positive_int, default=3, help="seeds per method; default 3")
    titan.add_argument("--rounds", type=positive_int, default=500, help="training rounds; default 500")
    titan.add_argument("--v", type=positive_int, default=100, help="samples arriving per round; default 100")
    titan.add_argument("--buffer", type=positive_int, default=30, help="candidate buffer size; default 30")
    titan.add_argument("--batch", type=positive_int, default=10, help="samples per SGD step; default 10")
    titan.add_argument("--lr", type=float, default=0.1, help="SGD learning rate; default 0.1")
    titan.add_argument("--eval-every", type=positive_int, default=25, help="rounds between test evaluations")
    titan.add_argument("--mode", choices=("sequential", "pipelined", "train_only"), default="sequential",
                       help="sequential, or pipelined (selection in a worker process, one-round delay)")
    titan.add_argument("--coarse", choices=("titan", "drip", "none"), default=None,
                       help="put every method behind this coarse stage (default: each method's own; titan's "
                       "filter for titan, none for the rivals, as in the paper)")
    titan.add_argument("--class-slots", choices=("proportional", "global"), default="proportional",
                       help="Titan's buffer: slots per class in proportion to the round (default), or the paper's "
                       "single global priority queue")
    titan.add_argument("--calibration", type=positive_int, default=100,
                       help="held-out training samples that calibrate the selectors (never streamed); default 100")
    titan.add_argument("--repeat-stream", action="store_true",
                       help="reshuffle and stream the training set again when it runs out (small data sets)")
    titan.add_argument("--stream", default="iid",
                       help="the stream scenario the rounds draw from, e.g. dirichlet:alpha=0.1 (`edgesieve streams`); "
                       "default iid (a seeded shuffle)")
    titan.add_argument("--root", type=Path, default=None, help="data cache folder (sets EDGESIEVE_DATA for the runs)")
    titan.add_argument("--out", type=Path, required=True, help="results folder")
    titan.add_argument("--no-figures", action="store_true", help="skip the figures")
    titan.add_argument("--no-progress", action="store_true", help="no progress bars")
    _engine_options(titan)


def _engine_options(parser) -> None:
    """Runs are grid cells (`edgesieve grid`): the same engine options."""
    parser.add_argument("--num-cpus", type=positive_int, default=None,
                        help="CPUs of the embedded Ray instance, one run per CPU (default: all)")
    parser.add_argument("--address", default=None, help="join an existing Ray cluster (auto or HOST:PORT) instead")
    parser.add_argument("--in-process", action="store_true",
                        help="run the cells one after another in this process, without Ray (the default where Ray is not installed)")


def run(args) -> None:
    from edgesieve.data.cache import data_home_for_workers

    engine = dict(num_cpus=args.num_cpus, address=args.address, in_process=True if args.in_process else None)
    if args.paper == "titan":
        with data_home_for_workers(args.root):  # the cells load their data set in their own process
            _titan(args, engine)
        return
    from edgesieve.experiments.allocator import keep_freed_memory
    from edgesieve.experiments.reproduce import reproduce_drip

    keep_freed_memory()  # the DRIP protocol runs in this process
    report = reproduce_drip(
        args.dataset, args.out, runs=args.runs, sweep_runs=args.sweep_runs, dpw=args.dpw, dpw_sweep=args.dpw_sweep,
        noise_sweep=args.noise_sweep, selector=args.selector, pool=args.pool, epochs=args.epochs, seed=args.seed,
        stream=args.stream, root=args.root, progress=not args.no_progress, figures=not args.no_figures, **engine,
    )
    print((args.out / "main" / "table.md").read_text())
    print(f"report: {report}")


def _titan(args, engine: dict) -> None:
    from edgesieve.experiments.online import OnlineConfig
    from edgesieve.experiments.titan_protocol import TitanConfig, run_titan

    online = OnlineConfig(rounds=args.rounds, v=args.v, buffer=args.buffer, batch=args.batch, lr=args.lr,
                          eval_every=args.eval_every, mode=args.mode, coarse=args.coarse,
                          calibration=args.calibration, repeat_stream=args.repeat_stream,
                          class_slots=args.class_slots)
    cfg = TitanConfig(dataset=args.dataset, methods=tuple(args.methods.split(",")), seeds=args.seeds, online=online,
                      stream=args.stream)
    run_titan(cfg, args.out, progress=not args.no_progress, figures=not args.no_figures, **engine)
    print((args.out / "table.md").read_text())
