"""Stream scenarios by name. A spec is ``name`` or ``name:key=value,key=value``; specs compose
with ``+`` and apply left to right (``imbalanced:ratio=100+label-noise:rate=0.2``). Unknown
names, unknown parameters and out-of-range values give one clear line naming the scenario and
the parameter (:class:`StreamSpecError`). Built-in scenarios are imported on first use; a new
scenario is one module that calls :func:`register_stream`, plus its line in ``BUILTIN_MODULES``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgesieve.streams.base import StreamData

BUILTIN_MODULES = ("iid", "imbalanced", "dirichlet", "sessions", "duplicates", "label_noise", "drift")
_REGISTRY: dict[str, "StreamScenario"] = {}
_loaded = False


class StreamSpecError(ValueError):
    """A stream spec that cannot be applied as written; the message names scenario and parameter."""


@dataclass(frozen=True)
class Param:
    """One scenario parameter: how to read it, its default (None: required), the check of its
    value (returns what is wrong, or None) and what it means."""

    read: Callable[[str], object]
    default: object = None
    check: Callable[[object], str | None] = lambda v: None
    help: str = ""


@dataclass(frozen=True)
class StreamContext:
    """What a scenario may use besides the stream: the pool's samples and sessions, a seeded
    random generator of its own, the data set's name."""

    pool_x: np.ndarray
    pool_sessions: np.ndarray | None
    rng: np.random.Generator
    dataset: str


@dataclass(frozen=True)
class StreamScenario:
    """A registered scenario: its name, one-line description, parameters, and the function that
    turns a stream into the scenario's stream. ``protocol_support`` lists the protocols whose
    runners take it."""

    name: str
    description: str
    parameters: dict[str, Param] = field(default_factory=dict)
    apply: Callable[[StreamData, dict, StreamContext], StreamData] | None = None
    protocol_support: tuple[str, ...] = ("drip", "titan")


def register_stream(scenario: StreamScenario) -> StreamScenario:
    if scenario.name in _REGISTRY and _REGISTRY[scenario.name] is not scenario:
        raise ValueError(f"a stream scenario named {scenario.name!r} is already registered")
    _REGISTRY[scenario.name] = scenario
    return scenario


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(f"edgesieve.streams.{module}")


def list_streams() -> list[str]:
    """Registered scenario names, sorted.

    >>> "iid" in list_streams() and "imbalanced" in list_streams()
    True
    """
    _load_builtins()
    return sorted(_REGISTRY)


def stream_scenario(name: str) -> StreamScenario:
    _load_builtins()
    if name not in _REGISTRY:
        raise StreamSpecError(f"unknown stream scenario {name!r}; available: {', '.join(list_streams())}")
    return _REGISTRY[name]


def parse_stream(spec: str) -> tuple[StreamScenario, dict]:
    """One scenario and its parameters (defaults filled in, values checked).

    >>> scenario, params = parse_stream("imbalanced:ratio=10")
    >>> scenario.name, params
    ('imbalanced', {'ratio': 10.0})
    """
    name, _, args = str(spec).strip().partition(":")
    scenario = stream_scenario(name)
    given: dict = {}
    for item in filter(None, (a.strip() for a in args.split(","))):
        key, eq, value = item.partition("=")
        known = ", ".join(scenario.parameters) or "none"
        if not eq or key not in scenario.parameters:
            raise StreamSpecError(f"stream scenario {name!r} has no parameter {key!r} (parameters: {known})")
        try:
            given[key] = scenario.parameters[key].read(value)
        except ValueError:
            raise StreamSpecError(f"stream scenario {name!r}: {key}={value!r} is not a valid value") from None
    params = {}
    for key, p in scenario.parameters.items():
        value = given.get(key, p.default)
        if value is None:
            raise StreamSpecError(f"stream scenario {name!r} needs {key}=... ({p.help})")
        problem = p.check(value)
        if problem:
            raise StreamSpecError(f"stream scenario {name!r}: {key} {problem}, got {value}")
        params[key] = value
    return scenario, params


def parse_streams(spec: str) -> list[tuple[StreamScenario, dict]]:
    """Every component of a composed spec, in order of application.

    >>> [s.name for s, _ in parse_streams("imbalanced:ratio=10+label-noise:rate=0.2")]
    ['imbalanced', 'label-noise']
    """
    parts = [p for p in str(spec).split("+")]
    if not all(p.strip() for p in parts):
        raise StreamSpecError(f"stream spec {spec!r} has an empty part")
    return [parse_stream(p) for p in parts]


# -- parameter helpers shared by the scenario modules -------------------------------------------


def fraction_below_one(v) -> str | None:
    return None if 0 <= v < 1 else "must be in [0, 1)"


def positive(v) -> str | None:
    return None if v > 0 else "must be > 0"


def one_of(*choices) -> Callable[[object], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"
