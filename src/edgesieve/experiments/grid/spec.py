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
from edgesieve.models.registry import list_models
from edgesieve.selectors.batch import list_batch_methods
from edgesieve.selectors.registry import list_selectors
from edgesieve.streams import StreamSpecError, parse_streams

#: "store" is the storage protocol's capacity mode (experiments.capacity): a store of at most
#: ``capacity`` x |D3| samples, every capacity policy against reservoir (random at the same M)
PROTOCOLS = ("drip", "titan", "store")
#: methods of the storage protocol that are arms of every run, not selectors
DRIP_ARMS = ("baseline", "all_data", "random")
REFERENCE = {"drip": "random", "titan": "rs", "store": "reservoir"}
#: Titan-protocol settings of the grid beyond OnlineConfig's: ``pool`` (the stream scenario
#: applies to this many samples of the training pool), ``validation`` (samples held out of every
#: stream, where learning rates are chosen), ``eval_on`` ("test" or "validation": what the curve
#: measures), ``eval_subset`` (the curve is measured on this fixed subset; the end point on the
#: whole split); ``rounds = "pass"`` runs one pass over the stream, whatever its length;
#: ``iid_stream``: "scenario" (the iid scenario over the stream pool, like every other stream) or
#: "shuffled_training_set" (the Titan paper's setting and ``reproduce titan``'s: the rounds draw a
#: seeded shuffle of the whole training set, the calibration samples held out)
#: ``target_accuracy``: a cell records the rounds and seconds until its smoothed curve first
#: reaches it (``rounds_to_target``, ``seconds_to_target``; null when it never does)
#: ``model``: a registered model name to train instead of the data set's default (the paper-like
#: models); ``cpus_per_cell``: CPUs one cell is given (Ray reserves them, torch gets as many
#: threads): 2 for a pipelined run with its cores split, and for wall-clock cells that must not
#: share the machine with another cell; ``end_point``: evaluate once more on the whole split at the
#: end (``test_accuracy``; free where the curve is on the whole split already), false to skip it
TITAN_GRID_KEYS = {"pool": None, "validation": 0, "eval_on": "test", "eval_subset": None, "iid_stream": "scenario",
                   "target_accuracy": None, "model": None, "cpus_per_cell": 1, "end_point": True}
IID_STREAMS = ("scenario", "shuffled_training_set")
#: settings added after cells were committed: left out of a cell's config at their defaults
GRID_LATE_SETTINGS = {"iid_stream": "scenario", "coarse_pool": 1, "pin_cores": False, "target_accuracy": None,
                      "model": None, "cpus_per_cell": 1, "end_point": True}
#: settings that add or leave out a metric without changing any other: outside the config hash, so
#: a cell made with the whole-split end point serves a grid that skips it (its other metrics are equal)
OUTSIDE_HASH = ("end_point",)
_TITAN_KEYS = tuple(f.name for f in fields(OnlineConfig) if f.name not in ("method", "seed")) + tuple(TITAN_GRID_KEYS)
_DRIP_KEYS = ("epochs", "batch_size", "lr", "pool", "dpw", "label_noise", "split")
CONFIG_KEYS = {"titan": _TITAN_KEYS, "drip": _DRIP_KEYS, "store": _DRIP_KEYS + ("capacity", "class_source")}


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
        return Path(out) / self.protocol / self.dataset / _safe(self.stream) / _safe(self.method) / f"seed_{self.seed:03d}.json"

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
    #: the results folder the grid file names for its cells (``--out`` replaces it); relative
    #: paths are read from the working directory, as ``--out`` is
    out: str | None = None

    def __post_init__(self):
        if self.out is not None and (not isinstance(self.out, str) or not self.out.strip()):
            raise GridError(f"out must name a results folder (a non-empty string), got {self.out!r}")
        if self.protocol not in PROTOCOLS:
            raise GridError(f"unknown protocol {self.protocol!r}; available: {', '.join(PROTOCOLS)}")
        for what in ("datasets", "streams", "methods", "seeds"):
            if not getattr(self, what):
                raise GridError(f"the grid has no {what}: nothing to run")
        known = list_datasets("drip" if self.protocol == "store" else self.protocol)
        for d in self.datasets:
            if d not in known:
                raise GridError(f"unknown data set {d!r} for the {self.protocol} protocol; available: {', '.join(known)}")
        for s in self.streams:
            try:
                components = parse_streams(s)
            except StreamSpecError as err:
                raise GridError(str(err)) from None
            for scenario, _ in components:
                if ("drip" if self.protocol == "store" else self.protocol) not in scenario.protocol_support:
                    raise GridError(f"stream {s!r} is not implemented for the {self.protocol} protocol")
                if scenario.name == "sessions":
                    lacking = [d for d in self.datasets if dataset_spec(d).sessions is None]
                    if lacking:
                        raise GridError(f"stream scenario 'sessions': data sets {lacking} have no sessions; "
                                        "run them in a grid without it")
        self._check_methods()
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise GridError(f"seeds must be integers >= 0, got {list(self.seeds)}")
        unknown = sorted(k for k, v in self.config.items()
                         if k not in CONFIG_KEYS[self.protocol] and not (isinstance(v, dict) and k in known))
        for d in known:  # a data set's own table may be there for a data set this run leaves out
            unknown += sorted(f"{d}.{k}" for k in self.config.get(d, {}) if k not in CONFIG_KEYS[self.protocol])
        if unknown:
            raise GridError(f"unknown [config] keys {unknown} for the {self.protocol} protocol; "
                            f"known: {', '.join(CONFIG_KEYS[self.protocol])}")
        for d in self.datasets:  # every option checked before anything runs
            self.titan_config(d, self.methods[0], 0) if self.protocol == "titan" else self.drip_config(d, self.streams[0])

    def _check_methods(self) -> None:
        if self.protocol == "store":
            from edgesieve.experiments.capacity import CLASS_SOURCES, parse_policy

            for m in self.methods:
                try:
                    parse_policy(m)
                except ValueError as err:
                    raise GridError(f"store protocol method {m!r}: {err}") from None
            if "reservoir" not in self.methods:
                raise GridError("the store protocol is measured against reservoir: include reservoir in the methods")
            for d in self.datasets:  # a data set's own table may set its own (a short stream needs a larger store)
                cap, where = self.capacity(d), f"[config.{d}]" if "capacity" in self.config.get(d, {}) else "[config]"
                if isinstance(cap, bool) or not isinstance(cap, float) or not 0 < cap < 1:
                    raise GridError(f"{where} capacity (a fraction of the stream in (0, 1)) is needed, got {cap!r}")
                if self.class_source(d) not in CLASS_SOURCES:
                    raise GridError(f"[config] class_source must be one of {CLASS_SOURCES}")
            return
        if self.protocol == "titan":
            known = list_batch_methods()
            bad = [m for m in self.methods if m not in known]
            if bad:
                raise GridError(f"unknown methods {bad} for the titan protocol; available: {', '.join(known)}")
            if "rs" not in self.methods:
                raise GridError("the titan protocol is measured against RS: include rs in the methods")
            return
        per_point = [n for n in list_selectors() if n not in list_batch_methods() and n != "random"]
        parsed = [drip_method(m) for m in self.methods]
        bases = [b for b, _ in parsed]
        bad = [m for m, b in zip(self.methods, bases) if b not in per_point and b not in DRIP_ARMS]
        if bad:
            raise GridError(f"unknown methods {bad} for the drip protocol; available: {', '.join(per_point + list(DRIP_ARMS))}")
        selectors = sorted({b for b in bases if b in per_point})
        if len(selectors) != 1:
            raise GridError(f"the drip protocol pairs random with exactly one selector per grid, got {selectors or 'none'}; "
                            "run one grid per selector")
        if not any(b == "random" for b in bases):
            raise GridError("the drip protocol is measured against random: include random in the methods")
        for m, (b, own_dpw) in zip(self.methods, parsed):
            if own_dpw is not None and b not in ("drip", "random"):
                raise GridError(f"drip protocol method {m!r}: only drip and random take a dpw (the baseline and "
                                "all-data arms do not depend on it)")

    # -- configs ------------------------------------------------------------------------------

    def config_for(self, dataset: str) -> dict:
        """The [config] settings, with the data set's own table (``[config.mnist]``) on top."""
        shared = {k: v for k, v in self.config.items() if not isinstance(v, dict)}
        return {**shared, **self.config.get(dataset, {})}

    def capacity(self, dataset: str):
        """The store protocol's capacity for ``dataset`` (a fraction of its stream)."""
        return self.config_for(dataset).get("capacity")

    def class_source(self, dataset: str) -> str:
        return self.config_for(dataset).get("class_source", "label")

    def titan_grid_settings(self, dataset: str) -> dict:
        """The grid-level Titan settings (``TITAN_GRID_KEYS``) of one data set, checked."""
        c = self.config_for(dataset)
        out = {k: c.get(k, default) for k, default in TITAN_GRID_KEYS.items()}
        if out["eval_on"] not in ("test", "validation"):
            raise GridError(f"[config] eval_on must be 'test' or 'validation', got {out['eval_on']!r}")
        if out["eval_on"] == "validation" and out["validation"] < 1:
            raise GridError("[config] eval_on = 'validation' needs validation = N (samples held out of every stream)")
        for key in ("pool", "eval_subset"):
            if out[key] is not None and (not isinstance(out[key], int) or out[key] < 1):
                raise GridError(f"[config] {key} must be a positive integer, got {out[key]!r}")
        if not isinstance(out["validation"], int) or out["validation"] < 0:
            raise GridError(f"[config] validation must be an integer >= 0, got {out['validation']!r}")
        target = out["target_accuracy"]
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target <= 1):
            raise GridError(f"[config] target_accuracy must be an accuracy in (0, 1], got {target!r}")
        if out["model"] is not None and out["model"] not in list_models():
            raise GridError(f"[config] model {out['model']!r} is not a registered model; available: {', '.join(list_models())}")
        if not isinstance(out["end_point"], bool):
            raise GridError(f"[config] end_point must be true or false, got {out['end_point']!r}")
        cpus = out["cpus_per_cell"]
        if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
            raise GridError(f"[config] cpus_per_cell must be a positive integer, got {cpus!r}")
        if c.get("pin_cores") and cpus != 2:
            raise GridError("[config] pin_cores gives the pipeline's trainer and selector a core each: it needs cpus_per_cell = 2")
        if out["iid_stream"] not in IID_STREAMS:
            raise GridError(f"[config] iid_stream must be one of {', '.join(IID_STREAMS)}, got {out['iid_stream']!r}")
        if out["iid_stream"] != "scenario" and (out["pool"] is not None or out["validation"] or c.get("rounds") == "pass"):
            raise GridError("[config] iid_stream = 'shuffled_training_set' streams the whole training set: "
                            "it takes no pool, validation or rounds = 'pass'")
        return out

    def titan_config(self, dataset: str, method: str, seed: int, rounds: int | None = None) -> OnlineConfig:
        """The OnlineConfig of one cell; ``rounds`` replaces a ``rounds = "pass"`` setting
        once the stream's length is known."""
        c = {k: v for k, v in self.config_for(dataset).items() if k not in TITAN_GRID_KEYS}
        if c.get("rounds") == "pass":
            c["rounds"] = rounds or 1
        try:
            cfg = OnlineConfig(**{**c, "method": method, "seed": seed})
        except (TypeError, ValueError) as err:
            raise GridError(f"[config] for the titan protocol: {err}") from None
        self.titan_grid_settings(dataset)
        return cfg

    def model_name(self, dataset: str) -> str:
        """The model a Titan-protocol cell trains: [config] model, else the data set's default."""
        return self.titan_grid_settings(dataset)["model"] or dataset_spec(dataset).model

    def task_cpus(self, task: "Task") -> int:
        """CPUs one task is given (Ray reserves them; torch runs that many threads)."""
        return self.titan_grid_settings(task.dataset)["cpus_per_cell"] if self.protocol == "titan" else 1

    def one_pass(self, dataset: str) -> bool:
        return self.config_for(dataset).get("rounds") == "pass"

    @property
    def selector(self) -> str:
        if self.protocol == "store":
            return "drip"  # the capacity mode's drip policy; its other policies need no selector
        return next(b for b in (drip_method(m)[0] for m in self.methods) if b not in DRIP_ARMS)

    def dpw(self, dataset: str, method: str | None = None) -> float:
        """The DRIP protocol's DPW of one method: its own ``:dpw=`` or the grid's [config] dpw."""
        own = None if method is None else drip_method(method)[1]
        return own if own is not None else self.config_for(dataset).get("dpw", 0.25)

    def task_dpws(self, task: "Task") -> tuple[float, ...]:
        """Every DPW a DRIP-protocol task computes: one run serves them all (the baseline and
        all-data models are shared)."""
        dpws = {self.dpw(task.dataset, m) for m in task.methods if drip_method(m)[0] not in ("baseline", "all_data")}
        return tuple(sorted(dpws or {self.dpw(task.dataset)}))

    def drip_config(self, dataset: str, stream: str = "iid", dpws: tuple[float, ...] | None = None) -> ProtocolConfig:
        recipe = dataset_spec(dataset).recipe
        c = {k: v for k, v in self.config_for(dataset).items() if k not in ("capacity", "class_source")}
        try:
            return ProtocolConfig(dataset=dataset, runs=1, dpws=dpws or (c.get("dpw", 0.25),), selector=self.selector,
                                  epochs=c.get("epochs", recipe.epochs), batch_size=c.get("batch_size", recipe.batch_size),
                                  lr=c.get("lr", recipe.lr), pool=c.get("pool"), label_noise=c.get("label_noise", 0.0),
                                  stream=stream, **({"split": tuple(c["split"])} if "split" in c else {}))
        except (TypeError, ValueError) as err:
            raise GridError(f"[config] for the drip protocol: {err}") from None

    def cell_config(self, cell: Cell) -> dict:
        """The effective settings of one cell, as its JSON records them."""
        if self.protocol == "titan":
            d = self.titan_config(cell.dataset, cell.method, cell.seed).__dict__.copy()
            d.update(self.titan_grid_settings(cell.dataset))
            for key, default in GRID_LATE_SETTINGS.items():
                if d.get(key) == default:
                    d.pop(key)  # added later: at their defaults the committed cells keep their config hash
            if self.one_pass(cell.dataset):
                d["rounds"] = "pass"
        else:
            dpws = (self.dpw(cell.dataset, cell.method),) if self.protocol == "drip" else None
            d = self.drip_config(cell.dataset, cell.stream, dpws).to_json()
            if self.protocol == "store":
                d.update(capacity=self.capacity(cell.dataset), class_source=self.class_source(cell.dataset))
            d.pop("runs")
            d["seed"] = cell.seed
        return {"protocol": self.protocol, "dataset": cell.dataset, "stream": cell.stream, **d}

    def config_hash(self, cell: Cell) -> str:
        """What makes a cell's result comparable with the grid's (method and seed left out)."""
        d = self.cell_config(cell)
        for key in ("method", "seed", "selector", "stream", *OUTSIDE_HASH):
            d.pop(key, None)
        return identity_hash(d)

    # -- expansion ----------------------------------------------------------------------------

    def tasks(self) -> list[Task]:
        out = []
        for dataset in self.datasets:
            for stream in self.streams:
                for seed in self.seeds:
                    if self.protocol in ("drip", "store"):
                        out.append(Task(self, dataset, stream, seed, self.methods))
                    else:
                        out.extend(Task(self, dataset, stream, seed, (m,)) for m in self.methods)
        return out

    def cells(self) -> list[Cell]:
        return [c for t in self.tasks() for c in t.cells]

    def to_json(self) -> dict:
        d = {"protocol": self.protocol, "datasets": list(self.datasets), "streams": list(self.streams),
             "methods": list(self.methods), "seeds": list(self.seeds), "config": dict(self.config)}
        return d if self.out is None else {**d, "out": self.out}


def drip_method(method: str) -> tuple[str, float | None]:
    """A DRIP-protocol method and its own DPW: ``drip:dpw=0.1`` -> ("drip", 0.1); a DPW sweep is
    one grid (every DPW of a seed from one run, the baseline shared), as ``reproduce drip
    --dpw-sweep`` runs it."""
    name, sep, params = method.partition(":")
    if not sep:
        return method, None
    key, eq, value = params.partition("=")
    try:
        dpw = float(value)
    except ValueError:
        dpw = None
    if key != "dpw" or not eq or dpw is None or not 0 < dpw < 1:
        raise GridError(f"drip protocol method {method!r}: the only parameter is dpw=F, a fraction in (0, 1)")
    return name, dpw


def _safe(stream: str) -> str:
    """A stream or method spec as one folder name (``imbalanced:ratio=10`` stays readable)."""
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
    ``seeds``, table ``[config]``, and optionally ``out``: the results folder its cells belong
    in), any key replaced by a non-None override (flags). A ``config``
    override is merged setting by setting (``--set``): each of its settings replaces the file's,
    in ``[config]`` and in every data set's own table, and the file's other settings stay.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = Path(d) / "grid.toml"
    ...     _ = path.write_text('protocol = "titan"\\ndatasets = ["har"]\\nmethods = ["rs"]\\nseeds = 2\\n'
    ...                         '[config]\\nrounds = 100\\nv = 100\\n[config.har]\\nv = 50\\nlr = 0.03\\n')
    ...     load_grid(path, config={"v": 40}).config
    {'rounds': 100, 'v': 40, 'har': {'lr': 0.03}}
    """
    doc: dict = {}
    if path is not None:
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise GridError(f"grid file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise GridError(f"grid file {path} is not readable TOML: {err}") from None
        unknown = sorted(set(doc) - {"protocol", "datasets", "streams", "methods", "seeds", "config", "out"})
        if unknown:
            raise GridError(f"grid file {path}: unknown keys {unknown}")
    settings = overrides.pop("config", None) or {}
    doc.update({k: v for k, v in overrides.items() if v is not None})
    missing = [k for k in ("protocol", "datasets", "methods", "seeds") if k not in doc]
    if missing:
        raise GridError(f"the grid does not say {', '.join(missing)} (TOML keys or --{' --'.join(missing)})")
    as_tuple = lambda v: tuple(v) if isinstance(v, (list, tuple)) else (v,)  # noqa: E731
    config = doc.get("config", {})
    if not isinstance(config, dict):
        raise GridError("[config] must be a table of protocol settings")
    if settings:
        config = _with_settings(config, settings)
    return Grid(protocol=doc["protocol"], datasets=as_tuple(doc["datasets"]), streams=as_tuple(doc.get("streams", ["iid"])),
                methods=as_tuple(doc["methods"]), seeds=seeds_from(doc["seeds"]), config=dict(config), out=doc.get("out"))


def _with_settings(config: dict, settings: dict) -> dict:
    """``config`` with each of ``settings`` set at the top and removed from the data sets' own
    tables, so a flag holds for every data set (the flags override the file)."""
    merged = {k: ({n: v for n, v in table.items() if n not in settings} if isinstance(table, dict) else table)
              for k, table in config.items()}
    merged.update(settings)
    return merged


__all__ = ["CONFIG_KEYS", "TITAN_GRID_KEYS", "Cell", "Grid", "GridError", "REFERENCE", "Task", "drip_method", "load_grid"]
