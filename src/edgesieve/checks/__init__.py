"""The check-suite every registered selector must pass (river's ``check_estimator`` idea).

>>> import torch
>>> from edgesieve.selectors import RandomSelector
>>> x = torch.rand(40, 3)
>>> check_selector(RandomSelector(p=0.5, seed=3), x, None, x, n_stream_batches=20)
"""

from __future__ import annotations

import copy
import tempfile
import tracemalloc
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from edgesieve.errors import NotCalibratedError
from edgesieve.selectors.base import Decision, Selector


def clone(selector: Selector) -> Selector:
    """A fresh, uncalibrated selector with the same parameters (the model is shared)."""
    return type(selector)(**selector.get_params())


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    return a is b or a == b


def _assert_same_decisions(a: Decision, b: Decision, what: str) -> None:
    for field in ("keep", "predicted", "reason"):
        if not torch.equal(getattr(a, field), getattr(b, field)):
            raise AssertionError(f"{what}: decisions differ in {field!r}")
    if not torch.allclose(a.score, b.score, rtol=1e-6, atol=1e-7):
        raise AssertionError(f"{what}: scores differ")


def check_init_stores_params_only(selector, x, y, stream, stream_y=None):
    """``__init__`` stores each parameter under its own name, unchanged, and nothing else."""
    params = selector.get_params()
    fresh = clone(selector)
    names = set(type(selector)._param_names())  # the signature's, plus a batch method's extra_params
    if set(vars(fresh)) != names:
        raise AssertionError(f"__init__ set {sorted(set(vars(fresh)) - names)} beyond its parameters {sorted(names)}")
    for k, v in params.items():
        if not _same(getattr(fresh, k), v):
            raise AssertionError(f"__init__ changed parameter {k!r}")
    if fresh.is_calibrated:
        raise AssertionError("a fresh selector claims to be calibrated")


def check_fitted_state_has_trailing_underscore(selector, x, y, stream, stream_y=None):
    """``calibrate`` returns self, adds only ``name_`` attributes and leaves params as given."""
    sel = clone(selector)
    before = dict(vars(sel))
    if sel.calibrate(x, y) is not sel:
        raise AssertionError("calibrate must return self")
    added = set(vars(sel)) - set(before)
    wrong = [k for k in added if not k.endswith("_")]
    if wrong or not added:
        raise AssertionError(f"calibrate must add fitted attributes ending in '_' (got {sorted(added)})")
    for k, v in before.items():
        if not _same(getattr(sel, k), v):
            raise AssertionError(f"calibrate changed parameter {k!r}")


def _labels(stream_y, part: slice):
    return None if stream_y is None else stream_y[part]


def check_decide_before_calibrate_raises(selector, x, y, stream, stream_y=None):
    """``decide`` and ``save`` on an uncalibrated selector raise ``NotCalibratedError``."""
    sel = clone(selector)
    for call in (lambda: sel.decide(stream[:2], _labels(stream_y, slice(0, 2))), lambda: sel.save(Path(tempfile.gettempdir()) / "never.json")):
        try:
            call()
        except NotCalibratedError:
            continue
        raise AssertionError("an uncalibrated selector did not raise NotCalibratedError")


def check_inputs_not_mutated(selector, x, y, stream, stream_y=None):
    """Neither calibrate nor decide writes into the caller's tensors or model."""
    x0, s0 = x.clone(), stream.clone()
    y0 = None if y is None else y.clone()
    model = selector.get_params().get("model")
    state0 = _model_snapshot(model)
    sel = clone(selector).calibrate(x, y)
    sel.decide(stream, stream_y)
    if not (torch.equal(x, x0) and torch.equal(stream, s0) and (y is None or torch.equal(y, y0))):
        raise AssertionError("the selector mutated its inputs")
    if state0 is not None and not _model_unchanged(model, state0):
        raise AssertionError("the selector changed the model (parameters, requires_grad, .grad, mode or hooks)")


def _model_snapshot(model: nn.Module | None):
    if model is None:
        return None
    return {
        "state": copy.deepcopy(model.state_dict()),
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "training": [m.training for m in model.modules()],
        "hooks": _hook_count(model),
    }


def _hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()
    )


def _model_unchanged(model: nn.Module, snap) -> bool:
    state = model.state_dict()
    return (
        all(torch.equal(state[k], v) for k, v in snap["state"].items())
        and [p.requires_grad for p in model.parameters()] == snap["requires_grad"]
        and all(
            (g is None and p.grad is None) or (g is not None and p.grad is not None and torch.equal(g, p.grad))
            for g, p in zip(snap["grads"], model.parameters())
        )
        and [m.training for m in model.modules()] == snap["training"]
        and _hook_count(model) == snap["hooks"]
    )


def check_deterministic(selector, x, y, stream, stream_y=None):
    """Two selectors with the same parameters (and seed) make the same decisions."""
    a = clone(selector).calibrate(x, y).decide(stream, stream_y)
    b = clone(selector).calibrate(x, y).decide(stream, stream_y)
    _assert_same_decisions(a, b, "same parameters and seed")


def check_save_load_round_trip(selector, x, y, stream, stream_y=None):
    """State saved mid-stream and loaded decides the rest of the stream identically."""
    sel = clone(selector).calibrate(x, y)
    half = stream.shape[0] // 2
    first, rest = slice(0, half), slice(half, None)
    sel.decide(stream[first], _labels(stream_y, first))
    with tempfile.TemporaryDirectory() as tmp:
        path = sel.save(Path(tmp) / "state.json")
        text = path.read_text()
        if "pickle" in text or not text.lstrip().startswith("{"):
            raise AssertionError("state files must be JSON")
        loaded = type(sel).load(path, selector.get_params().get("model"))
    _assert_same_decisions(sel.decide(stream[rest], _labels(stream_y, rest)),
                           loaded.decide(stream[rest], _labels(stream_y, rest)), "after save/load")


def check_constant_memory(selector, x, y, stream, stream_y=None, n_stream_batches: int = 200):
    """Deciding a long stream grows neither the selector's state nor Python's heap."""
    sel = clone(selector).calibrate(x, y)
    part = slice(0, max(1, min(16, stream.shape[0])))
    batch, labels = stream[part], _labels(stream_y, part)
    for _ in range(5):
        sel.decide(batch, labels)
    size0 = _state_nbytes(sel)
    tracemalloc.start()
    try:
        sel.decide(batch, labels)
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(n_stream_batches):
            sel.decide(batch, labels)
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if _state_nbytes(sel) != size0:
        raise AssertionError(f"selector state grew from {size0} to {_state_nbytes(sel)} bytes over the stream")
    if now - base > 64 * 1024:
        raise AssertionError(f"Python heap grew by {now - base} bytes over {n_stream_batches} batches")


def _state_nbytes(obj, seen=None) -> int:
    """Bytes held by a selector's fitted state: tensors by size, containers recursively; the
    model is not counted (it is the user's)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, (nn.Module, type)):
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, str):
        return len(obj)
    if isinstance(obj, Selector):
        values = [v for k, v in vars(obj).items() if k.endswith("_")]
    elif isinstance(obj, dict):
        values = [*obj.keys(), *obj.values()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        values = list(obj)
    elif hasattr(obj, "__dict__"):
        values = list(vars(obj).values())
    else:
        return 8
    return 8 * len(values) + sum(_state_nbytes(v, seen) for v in values)


CHECKS: list[Callable] = [
    check_init_stores_params_only,
    check_fitted_state_has_trailing_underscore,
    check_decide_before_calibrate_raises,
    check_inputs_not_mutated,
    check_deterministic,
    check_save_load_round_trip,
    check_constant_memory,
]


def check_selector(selector: Selector, x, y, stream, *, stream_y=None, n_stream_batches: int = 200) -> None:
    """Run every check on ``selector`` (uncalibrated) with calibration data ``x``/``y`` and a
    stream batch (``stream_y``: its labels, for selectors that use them); raises
    ``AssertionError`` naming the first check that fails."""
    for check in CHECKS:
        try:
            if check is check_constant_memory:
                check(selector, x, y, stream, stream_y, n_stream_batches=n_stream_batches)
            else:
                check(selector, x, y, stream, stream_y)
        except AssertionError as err:
            raise AssertionError(f"{type(selector).__name__} fails {check.__name__}: {err}") from err
