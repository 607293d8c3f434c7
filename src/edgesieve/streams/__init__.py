"""Stream scenarios: how a data set's stream pool turns into the ordered stream a device sees,
named by one string (``iid``; the realistic scenarios of SPEC section 5 register here too).
Each scenario is registered with :func:`register_stream`."""

from edgesieve.streams.registry import (
    StreamScenario,
    list_streams,
    parse_stream,
    register_stream,
)

__all__ = ["StreamScenario", "list_streams", "parse_stream", "register_stream"]
