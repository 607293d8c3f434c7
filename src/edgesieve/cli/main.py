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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgesieve",
        description="Decide on an edge device which streaming data points to keep and train on.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="fetch and locate data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download a data set into the cache folder")
    fetch.add_argument("name", help="data set name (mnist)")
    fetch.add_argument("--root", type=Path, default=None,
                       help="cache folder (default: $EDGESIEVE_DATA or ~/.cache/edgesieve)")
    fetch.add_argument("--force", action="store_true", help="fetch again even if verified files are present")

    demo = sub.add_parser("demo", help="short DRIP demo on real MNIST: DRIP vs random at the same budget")
    demo.add_argument("--runs", type=_positive_int, default=3, help="independent reshuffles (seeds); default 3")
    demo.add_argument("--pool", type=_positive_int, default=10_000,
                      help="MNIST training samples per run, split 40/20/40 into D1/D2/D3; default 10000")
    demo.add_argument("--dpw", type=_fraction, default=0.25, help="DRIP discard percentage window; default 0.25")
    demo.add_argument("--epochs", type=_positive_int, default=5, help="training epochs per model; default 5")
    demo.add_argument("--seed", type=int, default=0, help="first seed; run i uses seed+i")
    demo.add_argument("--root", type=Path, default=None, help="data cache folder")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="where config, runs and table go")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")

    sub.add_parser("selectors", help="list the registered selectors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (DatasetNotFoundError, ValueError) as err:
        print(f"edgesieve: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "data":
        from edgesieve.data import fetch

        print(f"{args.name}: {fetch(args.name, args.root, force=args.force)}")
    elif args.command == "selectors":
        from edgesieve.selectors import list_selectors

        print("\n".join(list_selectors()))
    elif args.command == "demo":
        from edgesieve.experiments.drip_demo import DemoConfig, format_table, run_demo

        cfg = DemoConfig(pool=args.pool, runs=args.runs, dpw=args.dpw, epochs=args.epochs, seed=args.seed)
        rows = run_demo(cfg, args.out, root=args.root, progress=not args.no_progress)
        print(format_table(rows))
        print(f"results: {args.out}/ (config.json, runs.json, table.txt)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
