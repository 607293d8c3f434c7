"""Stream scenarios (SPEC section 5): how a data set's stream pool turns into the ordered stream
a device sees, named by one string (``iid``, ``imbalanced:ratio=100``, ``dirichlet:alpha=0.1``,
``sessions``, ``duplicates:rate=0.5``, ``label-noise:rate=0.4``, ``drift``; composable with
``+``). Each scenario is one module registered with :func:`register_stream`."""

from edgesieve.streams.base import StreamData
from edgesieve.streams.make import describe_stream, make_stream
from edgesieve.streams.registry import (
    Param,
    StreamContext,
    StreamScenario,
    StreamSpecError,
    list_streams,
    parse_stream,
    parse_streams,
    register_stream,
    stream_scenario,
)

__all__ = ["Param", "StreamContext", "StreamData", "StreamScenario", "StreamSpecError", "describe_stream",
           "list_streams", "make_stream", "parse_stream", "parse_streams", "register_stream", "stream_scenario"]
