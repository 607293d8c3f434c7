"""``edgesieve`` command line. Each subcommand parses options and calls library functions."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edgesieve.cli import device_cmd, grid_cmd, reproduce_cmd, streams_cmd
from edgesieve.errors import DatasetNotFoundError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgesieve",
        description="Decide on an edge device which streaming data points to keep and train on.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="fetch and locate data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download a data set into the cache folder")
    fetch.add_argument("name", help="data set name (`edgesieve data list`)")
    fetch.add_argument("--from", dest="source", type=Path, default=None,
                       help="fsdd only: a folder holding the recordings ({digit}_{speaker}_{take}.wav)")
    fetch.add_argument("--root", type=Path, default=None,
                       help="cache folder (default: $EDGESIEVE_DATA or ~/.cache/edgesieve)")
    fetch.add_argument("--force", action="store_true", help="fetch again even if verified files are present")
    data_sub.add_parser("list", help="the registered data sets: modality, default model, sessions, description")
    sub.add_parser("selectors", help="list the registered selectors")
    reproduce_cmd.add_parsers(sub)
    grid_cmd.add_parsers(sub)
    device_cmd.add_parsers(sub)
    streams_cmd.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from edgesieve.store import StoreError

    try:
        return _dispatch(args)
    except (DatasetNotFoundError, ValueError, TypeError, StoreError) as err:
        if os.environ.get("EDGESIEVE_DEBUG"):
            raise  # the full traceback, for bug reports
        print(f"edgesieve: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "data" and args.data_command == "list":
        from edgesieve.data import dataset_spec, list_datasets

        for name in list_datasets():
            spec = dataset_spec(name)
            print(f"{name:<15} {spec.modality:<8} model {spec.model:<11} sessions: {spec.sessions or '-'}; "
                  f"protocols: {', '.join(spec.protocols)}. {spec.description}")
    elif args.command == "data":
        from edgesieve.data import fetch_dataset

        print(f"{args.name}: {fetch_dataset(args.name, args.root, force=args.force, source=args.source)}")
    elif args.command == "selectors":
        from edgesieve.selectors import list_selectors, selector_class

        for name in list_selectors():  # name and the class's description, whole (up to its first blank line)
            doc = (selector_class(name).__doc__ or "").strip().split("\n\n")[0]
            print(f"{name:<10} {' '.join(line.strip() for line in doc.splitlines())}")
    elif args.command == "reproduce":
        reproduce_cmd.run(args)
    elif args.command == "grid":
        return grid_cmd.run(args)
    elif args.command == "streams":
        return streams_cmd.run(args)
    else:
        device_cmd.run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
