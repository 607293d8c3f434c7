"""What a grid is: protocol x data sets x streams x methods x seeds, with one protocol config,
expanded into cells. A cell is one run; its result is one JSON file at
``<out>/<protocol>/<dataset>/<stream>/<method>/seed_<NNN>.json``.

Work is scheduled as *tasks*: in the Titan protocol a task is one cell; in the DRIP storage
protocol a task is one (data set, stream, seed) and produces the cells of every method of that
seed, because they share the Baseline model and the random subset's size (the selector's).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from edgesieve.data.registry import dataset_spec, list_datasets
from edgesieve.experiments.online import OnlineConfig
from edgesieve.experiments.protocol import ProtocolConfig
from edgesieve.experiments.results_dir import identity_hash
from edgesieve.selectors.batch import list_batch_methods
from edgesieve.selectors.registry import list_selectors
from edgesieve.streams import parse_stream

PROTOCOLS = ("drip", "titan")
#: methods of the storage protocol that are arms of every run, not selectors
DRIP_ARMS = ("baseline", "all_data", "random")
REFERENCE = {"drip": "random", "titan": "rs"}
_TITAN_KEYS = tuple(f.name for f in fields(OnlineConfig) if f.name not in ("method", "seed"))
_DRIP_KEYS = ("epochs", "batch_size", "lr", "pool", "dpw", "label_noise")
CONFIG_KEYS = {"titan": _TITAN_KEYS, "drip": _DRIP_KEYS}


class GridError(ValueError):
    """A grid that cannot run as given; the message names the problem."""


@dataclass(frozen=True)
class Cell:
    protocol: str
    dataset: str
    stream: str
    method: str
    seed: int

    def path(self, out: Path) -> Path:
        return Path(out) / self.protocol / self.dataset / _safe(self.stream) / self.method / f"seed_{self.seed:03d}.json"

    def error_path(self, out: Path) -> Path:
        return self.path(out).with_suffix(".error.json")

    @property
    def name(self) -> str:
        return f"{self.protocol}/{self.dataset}/{self.stream}/{self.method}/seed_{self.seed:03d}"


@dataclass(frozen=True)
class Task:
    """One unit of scheduled work and the cells it produces."""

    grid: "Grid"
    dataset: str
    stream: str
    seed: int
    methods: tuple[str, ...]

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(Cell(self.grid.protocol, self.dataset, self.stream, m, self.seed) for m in self.methods)


@dataclass(frozen=True)
class Grid:
    protocol: str
    datasets: tuple[str, ...]
    streams: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    config: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise GridError(f"unknown protocol {self.protocol!r}; available: {', '.join(PROTOCOLS)}")
        for what in ("datasets", "streams", "methods", "seeds"):
            if not getattr(self, what):
                raise GridError(f"the grid has no {what}: nothing to run")
        known = list_datasets(self.protocol)
        for d in self.datasets:
            if d not in known:
                raise GridError(f"unknown data set {d!r} for the {self.protocol} protocol; available: {', '.join(known)}")
        for s in self.streams:
            try:
                scenario, _ = parse_stream(s)
            except ValueError as err:
                raise GridError(str(err)) from None
            if self.protocol not in scenario.protocol_support:
                raise GridError(f"stream {s!r} is not implemented for the {self.protocol} protocol")
        self._check_methods()
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise GridError(f"seeds must be integers >= 0, got {list(self.seeds)}")
        unknown = sorted(set(self.config) - set(CONFIG_KEYS[self.protocol]))
        if unknown:
            raise GridError(f"unknown [config] keys {unknown} for the {self.protocol} protocol; "
                            f"known: {', '.join(CONFIG_KEYS[self.protocol])}")
        for d in self.datasets:  # every option checked before anything runs
            self.titan_config(d, self.methods[0], 0) if self.protocol == "titan" else self.drip_config(d)

    def _check_methods(self) -> None:
        if self.protocol == "titan":
            known = list_batch_methods()
            bad = [m for m in self.methods if m not in known]
            if bad:
                raise GridError(f"unknown methods {bad} for the titan protocol; available: {', '.join(known)}")
            if "rs" not in self.methods:
                raise GridError("the titan protocol is measured against RS: include rs in the methods")
            return
        per_point = [n for n in list_selectors() if n not in list_batch_methods() and n != "random"]
        bad = [m for m in self.methods if m not in per_point and m not in DRIP_ARMS]
        if bad:
            raise GridError(f"unknown methods {bad} for the drip protocol; available: {', '.join(per_point + list(DRIP_ARMS))}")
        selectors = [m for m in self.methods if m in per_point]
        if len(selectors) != 1:
            raise GridError(f"the drip protocol pairs random with exactly one selector per grid, got {selectors or 'none'}; "
                            "run one grid per selector")
        if "random" not in self.methods:
            raise GridError("the drip protocol is measured against random: include random in the methods")

    # -- configs ------------------------------------------------------------------------------

    def titan_config(self, dataset: str, method: str, seed: int) -> OnlineConfig:
        try:
            return OnlineConfig(**{**self.config, "method": method, "seed": seed})
        except (TypeError, ValueError) as err:
            raise GridError(f"[config] for the titan protocol: {err}") from None

    @property
    def selector(self) -> str:
        return next(m for m in self.methods if m not in DRIP_ARMS)

    def drip_config(self, dataset: str) -> ProtocolConfig:
        recipe = dataset_spec(dataset).recipe
        c = self.config
        try:
            return ProtocolConfig(dataset=dataset, runs=1, dpws=(c.get("dpw", 0.25),), selector=self.selector,
                                  epochs=c.get("epochs", recipe.epochs), batch_size=c.get("batch_size", recipe.batch_size),
                                  lr=c.get("lr", recipe.lr), pool=c.get("pool"), label_noise=c.get("label_noise", 0.0))
        except (TypeError, ValueError) as err:
            raise GridError(f"[config] for the drip protocol: {err}") from None

    def cell_config(self, cell: Cell) -> dict:
        """The effective settings of one cell, as its JSON records them."""
        if self.protocol == "titan":
            d = self.titan_config(cell.dataset, cell.method, cell.seed).__dict__.copy()
        else:
            d = self.drip_config(cell.dataset).to_json()
            d.pop("runs")
            d["seed"] = cell.seed
        return {"protocol": self.protocol, "dataset": cell.dataset, "stream": cell.stream, **d}

    def config_hash(self, cell: Cell) -> str:
        """What makes a cell's result comparable with the grid's (method and seed left out)."""
        d = self.cell_config(cell)
        for key in ("method", "seed", "selector"):
            d.pop(key, None)
        return identity_hash(d)

    # -- expansion ----------------------------------------------------------------------------

    def tasks(self) -> list[Task]:
        out = []
        for dataset in self.datasets:
            for stream in self.streams:
                for seed in self.seeds:
                    if self.protocol == "drip":
                        out.append(Task(self, dataset, stream, seed, self.methods))
                    else:
                        out.extend(Task(self, dataset, stream, seed, (m,)) for m in self.methods)
        return out

    def cells(self) -> list[Cell]:
        return [c for t in self.tasks() for c in t.cells]

    def to_json(self) -> dict:
        return {"protocol": self.protocol, "datasets": list(self.datasets), "streams": list(self.streams),
                "methods": list(self.methods), "seeds": list(self.seeds), "config": dict(self.config)}


def _safe(stream: str) -> str:
    """A stream spec as one folder name (``imbalanced:ratio=10`` stays readable)."""
    return stream.replace("/", "_")


def seeds_from(value) -> tuple[int, ...]:
    """``20`` means seeds 0..19; a list is taken as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise GridError(f"seeds must be a positive count or a list, got {value}")
        return tuple(range(value))
    if isinstance(value, (list, tuple)):
        return tuple(value)
    raise GridError(f"seeds must be a count or a list of integers, got {value!r}")


def load_grid(path: str | Path | None = None, **overrides) -> Grid:
    """A grid from a TOML file (keys ``protocol``, ``datasets``, ``streams``, ``methods``,
    ``seeds``, table ``[config]``), any key replaced by a non-None override (flags)."""
    doc: dict = {}
    if path is not None:
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise GridError(f"grid file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise GridError(f"grid file {path} is not readable TOML: {err}") from None
        unknown = sorted(set(doc) - {"protocol", "datasets", "streams", "methods", "seeds", "config"})
        if unknown:
            raise GridError(f"grid file {path}: unknown keys {unknown}")
    doc.update({k: v for k, v in overrides.items() if v is not None})
    missing = [k for k in ("protocol", "datasets", "methods", "seeds") if k not in doc]
    if missing:
        raise GridError(f"the grid does not say {', '.join(missing)} (TOML keys or --{' --'.join(missing)})")
    as_tuple = lambda v: tuple(v) if isinstance(v, (list, tuple)) else (v,)  # noqa: E731
    config = doc.get("config", {})
    if not isinstance(config, dict):
        raise GridError("[config] must be a table of protocol settings")
    return Grid(protocol=doc["protocol"], datasets=as_tuple(doc["datasets"]), streams=as_tuple(doc.get("streams", ["iid"])),
                methods=as_tuple(doc["methods"]), seeds=seeds_from(doc["seeds"]), config=dict(config))


__all__ = ["CONFIG_KEYS", "Cell", "Grid", "GridError", "REFERENCE", "Task", "load_grid"]
