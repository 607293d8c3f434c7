"""Stream scenarios by name: ``parse_stream("iid")``. A scenario spec is ``name`` or
``name:key=value,key=value``; unknown names and parameters give one clear line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

_REGISTRY: dict[str, "StreamScenario"] = {}


@dataclass(frozen=True)
class StreamScenario:
    """A registered scenario: its name, the parameters it takes, and a one-line description.
    ``protocol_support`` lists the protocols whose runners implement it."""

    name: str
    description: str
    parameters: dict[str, Callable[[str], object]] = field(default_factory=dict)
    protocol_support: tuple[str, ...] = ("drip", "titan")


def register_stream(scenario: StreamScenario) -> StreamScenario:
    if scenario.name in _REGISTRY and _REGISTRY[scenario.name] is not scenario:
        raise ValueError(f"a stream scenario named {scenario.name!r} is already registered")
    _REGISTRY[scenario.name] = scenario
    return scenario


def list_streams() -> list[str]:
    """Registered scenario names, sorted.

    >>> "iid" in list_streams()
    True
    """
    return sorted(_REGISTRY)


def parse_stream(spec: str) -> tuple[StreamScenario, dict]:
    """The scenario and its parameters for a spec string.

    >>> parse_stream("iid")[0].name
    'iid'
    """
    name, _, args = str(spec).partition(":")
    if name not in _REGISTRY:
        raise ValueError(f"unknown stream scenario {name!r}; available: {', '.join(list_streams())}")
    scenario = _REGISTRY[name]
    params = {}
    for item in filter(None, args.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in scenario.parameters:
            known = ", ".join(scenario.parameters) or "none"
            raise ValueError(f"stream scenario {name!r} has no parameter {key!r} (parameters: {known})")
        params[key] = scenario.parameters[key](value)
    return scenario, params


register_stream(StreamScenario("iid", "the data set's stream pool shuffled with the seed (the papers' setting)"))
