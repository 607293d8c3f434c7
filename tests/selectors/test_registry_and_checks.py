import warnings

import pytest
import torch

import edgesieve
from edgesieve import (
    CalibrationWarning,
    NotCalibratedError,
    create_selector,
    list_selectors,
)
from edgesieve.checks import CHECKS, check_selector
from edgesieve.selectors import RandomSelector, register_selector, selector_class


@pytest.mark.parametrize("name", list_selectors())
def test_every_registered_selector_passes_the_check_suite(name, fitted_conv2d):
    model, (x, y), (stream, stream_y) = fitted_conv2d
    cls = selector_class(name)
    sel = create_selector(name, model=model) if cls.requires_model else create_selector(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)  # every class must get thresholds here
        check_selector(sel, x, y, stream[:64], stream_y=stream_y[:64], n_stream_batches=100)
        check_selector(sel, x, y, stream[:64], n_stream_batches=20)  # without labels: predictions


@pytest.mark.parametrize("coarse", ["titan", "drip", "none"])
@pytest.mark.parametrize("name", ["titan", "hl"])
def test_batch_selectors_pass_the_suite_behind_every_coarse_stage(name, coarse, fitted_conv2d):
    model, (x, y), (stream, stream_y) = fitted_conv2d
    sel = create_selector(name, model=model, batch=4, buffer=12, coarse=coarse)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        check_selector(sel, x, y, stream[:64], stream_y=stream_y[:64], n_stream_batches=20)


def test_registry_names_and_errors():
    assert {"drip", "random"} <= set(list_selectors())
    assert isinstance(create_selector("random", p=0.2), RandomSelector)
    with pytest.raises(ValueError, match="unknown selector 'dripp'; available: camel, ce, drip, "):
        create_selector("dripp")
    with pytest.raises(ValueError, match="already registered"):
        register_selector("drip")(RandomSelector)


def test_public_names():
    for name in ("GradCAM", "DripSelector", "NotCalibratedError", "create_selector", "list_selectors"):
        assert hasattr(edgesieve, name)
    assert issubclass(NotCalibratedError, RuntimeError)


class LeakyInit(RandomSelector):
    def __init__(self, p=0.5, seed=0):
        super().__init__(p, seed)
        self.buffer = []  # state in __init__: the suite must catch it


class GrowingState(RandomSelector):
    def decide(self, x, y=None):
        d = super().decide(x)
        self.history_ = getattr(self, "history_", []) + [d.keep]  # grows with the stream
        return d


class NoCheck(RandomSelector):
    def decide(self, x, y=None):  # decides without being calibrated: the suite must catch it
        vars(self).setdefault("sample_shape_", tuple(x.shape[1:]))
        vars(self).setdefault("n_seen_", 0)
        return super().decide(x)


@pytest.mark.parametrize(
    ("cls", "check"),
    [(LeakyInit, "check_init_stores_params_only"), (GrowingState, "check_constant_memory"), (NoCheck, "check_decide_before_calibrate_raises")],
)
def test_check_suite_catches_broken_selectors(cls, check):
    x = torch.randn(20, 3)
    with pytest.raises(AssertionError, match=check):
        check_selector(cls(), x, None, x, n_stream_batches=20)
    assert check in [c.__name__ for c in CHECKS]
