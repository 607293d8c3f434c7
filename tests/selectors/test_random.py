import pytest
import torch

from edgesieve import RandomSelector


def test_keep_rate_and_batch_independence():
    sel = RandomSelector(p=0.3, seed=7).calibrate(torch.zeros(1, 2))
    keep = torch.cat([sel.decide(torch.zeros(n, 2)).keep for n in (1, 999, 4000, 5000)])
    assert keep.float().mean().item() == pytest.approx(0.3, abs=0.02)
    again = RandomSelector(p=0.3, seed=7).calibrate(torch.zeros(1, 2)).decide(torch.zeros(10_000, 2)).keep
    assert torch.equal(keep, again)


def test_different_seeds_differ():
    a = RandomSelector(seed=1).calibrate(torch.zeros(1, 1)).decide(torch.zeros(100, 1)).keep
    b = RandomSelector(seed=2).calibrate(torch.zeros(1, 1)).decide(torch.zeros(100, 1)).keep
    assert not torch.equal(a, b)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_extremes(p):
    keep = RandomSelector(p=p).calibrate(torch.zeros(1, 1)).decide(torch.zeros(1000, 1)).keep
    assert keep.all() if p == 1.0 else not keep.any()


@pytest.mark.parametrize("kwargs", [{"p": -0.1}, {"p": 1.5}, {"p": "half"}, {"seed": -1}, {"seed": 1.5}])
def test_bad_params(kwargs):
    with pytest.raises(ValueError):
        RandomSelector(**kwargs)


def test_bad_stream_input():
    sel = RandomSelector().calibrate(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="sample shape"):
        sel.decide(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN or Inf"):
        sel.decide(torch.tensor([[0.0, float("nan"), 0.0]]))
