"""``edgesieve streams [list] | streams describe SPEC --dataset NAME --seed S [--json]``."""

from __future__ import annotations

import json



def add_parsers(sub) -> None:
    streams = sub.add_parser("streams", help="the stream scenarios (list; describe one on a data set)")
    streams_sub = streams.add_subparsers(dest="streams_command")
    streams_sub.add_parser("list", help="every scenario with its parameters (the default)")
    describe = streams_sub.add_parser(
        "describe", help="what a stream is on a data set: n, class counts, imbalance, noisy labels, repeats, sessions",
        description="SPEC is a scenario spec, e.g. imbalanced:ratio=100 or dirichlet:alpha=0.1+label-noise:rate=0.2.")
    describe.add_argument("spec", help="stream scenario spec (`edgesieve streams`)")
    describe.add_argument("--dataset", required=True, help="data set name (`edgesieve data list`)")
    describe.add_argument("--seed", type=int, default=0, help="the stream's seed (default 0)")
    describe.add_argument("--json", action="store_true", help="print one JSON object")


def _list() -> None:
    from edgesieve.streams import list_streams, stream_scenario

    for name in list_streams():
        scenario = stream_scenario(name)
        params = "; ".join(f"{k}={'<required>' if p.default is None else p.default} ({p.help})"
                           for k, p in scenario.parameters.items()) or "no parameters"
        print(f"{name:<12} {scenario.description}\n{'':<12} parameters: {params}; protocols: {', '.join(scenario.protocol_support)}")


def run(args) -> int:
    if getattr(args, "streams_command", None) != "describe":
        _list()
        return 0
    from edgesieve.data.registry import load_dataset
    from edgesieve.streams import describe_stream, parse_streams

    parse_streams(args.spec)  # a bad spec fails before the data set is read
    info = describe_stream(args.spec, load_dataset(args.dataset), args.seed)
    if args.json:
        print(json.dumps(info))
        return 0
    for key, value in info.items():
        print(f"{key:<22} {value:.4g}" if isinstance(value, float) else f"{key:<22} {value}")
    return 0
