"""``edgesieve grid run|report``: experiment grids of resumable cells on Ray."""

from __future__ import annotations

import json
from pathlib import Path

from edgesieve.cli.options import positive_int


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


def _specs(text: str) -> tuple[str, ...]:
    """Comma-separated names that may carry parameters: a piece ``key=value`` without a ``:``
    continues the previous name's parameters, so ``pbrs,hus:threshold=0.9,min_pass=0.5`` is two.

    >>> _specs("reservoir,trust_balanced:labelled_store=true,within=random,cstu")
    ('reservoir', 'trust_balanced:labelled_store=true,within=random', 'cstu')
    """
    out: list[str] = []
    for piece in filter(None, text.split(",")):
        if out and "=" in piece and ":" not in piece and ":" in out[-1]:
            out[-1] += "," + piece
        else:
            out.append(piece)
    return tuple(out)


def _setting(text: str) -> tuple[str, object]:
    import tomllib

    key, eq, value = text.partition("=")
    if not eq:
        raise ValueError(f"--set takes key=value (a [config] setting), got {text!r}")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]  # TOML's value syntax: 500, 0.1, true, "pipelined"
    except tomllib.TOMLDecodeError:
        return key, value


def add_parsers(sub) -> None:
    grid = sub.add_parser("grid", help="experiment grids of resumable cells on Ray (local by default, a cluster by --address)")
    grid_sub = grid.add_subparsers(dest="grid_command", required=True)
    run = grid_sub.add_parser(
        "run", help="run every missing cell of a grid",
        description="Expand protocol x datasets x streams x methods x seeds into cells, skip the cells whose JSON "
        "exists, run the rest as Ray tasks, and end with done / skipped / failed counts. Rerunning retries only "
        "what is missing or failed. A TOML file gives keys protocol, datasets, streams, methods, seeds and a "
        "[config] table; flags override it.")
    run.add_argument("grid_file", nargs="?", type=Path, help="a TOML grid file")
    run.add_argument("--protocol", help="drip (storage), store (storage with a capacity: set capacity=0.1) or titan (online training)")
    run.add_argument("--datasets", type=_csv, help="comma-separated data set names (`edgesieve data list`)")
    run.add_argument("--streams", type=_specs, help="comma-separated stream scenarios (default iid; `edgesieve streams`)")
    run.add_argument("--methods", type=_specs, help="comma-separated methods (titan: batch selectors incl. rs; drip: one "
                     "selector plus random, baseline, all_data)")
    run.add_argument("--seeds", type=positive_int, help="seeds 0..N-1 (a TOML file may list seeds)")
    run.add_argument("--set", dest="settings", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                     help="a [config] setting, e.g. --set rounds=500 --set repeat_stream=true (repeatable)")
    run.add_argument("--out", type=Path, help="results folder: <out>/<protocol>/<dataset>/<stream>/<method>/seed_NNN.json "
                     "(default: the grid file's `out`)")
    run.add_argument("--num-cpus", type=positive_int, help="CPUs of the embedded Ray instance (default: all); one per task")
    run.add_argument("--address", help="join an existing Ray cluster: auto or HOST:PORT (default: an embedded local instance)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    status = grid_sub.add_parser(
        "status", help="how far grids have run: cells present, missing, compute spent and an estimate of what is left",
        description="Per data set and stream of each grid: cells present (computed with the grid's config), cells at "
        "its paths from another config, missing cells, CPU-hours spent, and CPU-hours left, estimated from the median "
        "cost of a cell of the same data set. Reads only; runs nothing.")
    status.add_argument("grid_files", nargs="+", type=Path, help="TOML grid files")
    status.add_argument("--out", type=Path, help="results folder (default: each grid file's `out`)")
    report = grid_sub.add_parser("report", help="paired comparisons with the reference method, as tables, JSON and a figure")
    report.add_argument("folder", type=Path, help="a grid's --out folder")
    report.add_argument("--json", action="store_true", help="print the records as JSON instead of Markdown")


def run(args) -> int:
    from edgesieve.experiments.grid import GridError, load_grid, run_grid, write_report

    if args.grid_command == "status":
        from edgesieve.experiments.grid.status import format_status, grid_folder, grid_status

        for path in args.grid_files:
            grid = load_grid(path)
            folder = args.out or grid_folder(grid, None)
            print(format_status(str(path), grid_status(grid, folder), folder) + "\n")
        return 0
    if args.grid_command == "report":
        if not args.folder.is_dir():
            raise ValueError(f"{args.folder} is not a folder of grid cells")
        records, path = write_report(args.folder)
        print(json.dumps(records, indent=1) if args.json else path.read_text())
        return 0
    config = dict(args.settings) or None
    grid = load_grid(args.grid_file, protocol=args.protocol, datasets=args.datasets, streams=args.streams,
                     methods=args.methods, seeds=args.seeds, config=config)
    out = args.out or grid.out
    if out is None:
        raise GridError("say where the cells go: --out FOLDER, or out = \"FOLDER\" in the grid file")
    outcome = run_grid(grid, out, num_cpus=args.num_cpus, address=args.address,
                       progress=False if args.no_progress else None)
    print(outcome.format())
    return 1 if outcome.failed else 0
