"""argparse value types with messages that say what is expected."""

from __future__ import annotations

import argparse
import math


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1), e.g. 0.25, got {text}")
    return value


def dataset_name(protocol: str):
    """A ``type=`` for ``--dataset``: the registered data sets of ``protocol``, looked up only when
    the option is parsed, so building the parser (``edgesieve filter`` on a device too) does not
    import every data set module."""

    def parse(text: str) -> str:
        from edgesieve.data.registry import list_datasets

        known = list_datasets(protocol)
        if text not in known:
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(known)})")
        return text

    parse.__name__ = "data set"
    return parse


def _require(value, ok: bool, message: str):
    if not ok:
        raise argparse.ArgumentTypeError(message)
    return value


def positive_int(text: str) -> int:
    value = int(text)
    return _require(value, value >= 1, f"must be a positive integer, got {text}")


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    return _require(value, math.isfinite(value), f"must be a finite number, got {text}")


def positive_float(text: str) -> float:
    value = _finite_float(text)
    return _require(value, value > 0, f"must be positive, got {text}")


def non_negative_float(text: str) -> float:
    value = _finite_float(text)
    return _require(value, value >= 0, f"must be >= 0, got {text}")


def fractions(text: str) -> tuple[float, ...]:
    return tuple(fraction(t) for t in text.split(","))


def fractions0(text: str) -> tuple[float, ...]:
    values = tuple(float(t) for t in text.split(","))
    if any(not 0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"noise levels must be fractions in [0, 1), got {text}")
    return values
